kgen-golden: same as render/merge-keys-override/packer/scripts/sysprep.sh
