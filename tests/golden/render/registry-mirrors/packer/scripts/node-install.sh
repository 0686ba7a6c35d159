kgen-golden: same as prepare/debian-12-1.34.3/node-install.sh
