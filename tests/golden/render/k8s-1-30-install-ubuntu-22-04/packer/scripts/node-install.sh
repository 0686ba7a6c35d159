kgen-golden: same as prepare/ubuntu-22.04-1.30.14/node-install.sh
