kgen-golden: same as packer/rocky-9-1.30.14-flannel-cri-o/scripts/cni-manifests.sh
