kgen-golden: same as render/merge-keys-override/packer/scripts/self-check.sh
