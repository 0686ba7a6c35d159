#!/usr/bin/env bash
# kgen bake, step 0 (shared by every kgen Packer project; copied from kgen's packer/ folder).
# Waits until the base image's own first boot is over: cloud-init may still be installing packages or
# holding the package manager's lock when Packer's SSH connection comes up. A cloud-init that ended
# in error on the build instance (a datasource quirk, say) is reported but does not stop the bake:
# sysprep resets cloud-init, and the self-check decides whether the image is good.
set -euo pipefail

if ! command -v cloud-init >/dev/null 2>&1; then
  echo "kgen-wait: no cloud-init on this image; nothing to wait for"
  exit 0
fi
status=0
cloud-init status --wait >/dev/null 2>&1 || status=$?
echo "kgen-wait: cloud-init finished (status exit code ${status}):"
cloud-init status --long 2>&1 || true
