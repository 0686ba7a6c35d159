kgen-golden: same as render/merge-keys-override/nodes/worker-0/bootstrap.sh
