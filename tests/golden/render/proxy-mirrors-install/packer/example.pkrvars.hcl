kgen-golden: same as render/merge-keys-override/packer/example.pkrvars.hcl
