kgen-golden: same as prepare/ubuntu-24.04-1.34.3/node-configure.sh
