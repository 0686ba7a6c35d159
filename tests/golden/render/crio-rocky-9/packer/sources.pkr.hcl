kgen-golden: same as packer/rocky-9-1.30.14-flannel-cri-o/sources.pkr.hcl
