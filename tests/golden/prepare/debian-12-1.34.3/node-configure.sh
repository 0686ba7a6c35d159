kgen-golden: same as packer/debian-12-1.34.3-calico-containerd/scripts/node-configure.sh
