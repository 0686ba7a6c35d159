kgen-golden: same as render/kube-vip-ha/packer/sources.pkr.hcl
