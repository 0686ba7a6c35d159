kgen-golden: same as render/merge-keys-override/nodes/master-0/bootstrap.sh
