kgen-golden: same as render/crio-rocky-9/packer/scripts/etcd-tools.sh
