kgen-golden: same as render/merge-keys-override/packer/build.pkr.hcl
