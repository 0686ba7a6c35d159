kgen-golden: same as render/kube-vip-ha/packer/scripts/node-configure.sh
