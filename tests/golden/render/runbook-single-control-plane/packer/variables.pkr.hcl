kgen-golden: same as render/merge-keys-override/packer/variables.pkr.hcl
