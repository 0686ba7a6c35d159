"""Kgen issue 10, defect 11: on EL9 images that ship curl-minimal, ``dnf install curl`` fails with a
conflict. The install phase asks dnf for curl only when no curl package is installed, and always for
nftables (the configure phase's metadata block needs nft). Run for real under bash in the bootstrap
sandbox, with strict stand-ins for dnf and rpm."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import prepare
from tests.matrix import cluster_for
from tests.sandbox import STANDIN_BIN, Sandbox

INSTALLED = "/var/lib/standin-rpmdb"

# rpm -q: exit status is the number of packages not installed; --quiet prints nothing (rpm(8),
# "rpm {-q|--query} [select-options] [query-options]"; rpm's lib/query.c counts failures).
RPM = f"""#!/bin/bash
# TEST STAND-IN for rpm: only "rpm -q [--quiet] NAME..." against a list of installed names.
set -euo pipefail
[[ "${{1:-}}" == -q ]] || {{ echo "rpm stand-in: unsupported: $*" >&2; exit 2; }}
shift
quiet=0
if [[ "${{1:-}}" == --quiet ]]; then quiet=1; shift; fi
missing=0
for name in "$@"; do
  if grep -qx "$name" {INSTALLED}; then
    (( quiet )) || echo "$name-1.0-1.el9.x86_64"
  else
    (( quiet )) || echo "package $name is not installed"
    missing=$(( missing + 1 ))
  fi
done
exit "$missing"
"""

# dnf install: curl conflicts with an installed curl-minimal unless --allowerasing swaps them (the error
# EL9 users hit: rocky-linux/sig-cloud-instance-images#41 "package curl-minimal-7.76.1-19.el9.x86_64
# conflicts with curl provided by curl-7.76.1-19.el9.x86_64").
DNF = f"""#!/bin/bash
# TEST STAND-IN for dnf: "dnf install -y [--disableexcludes=REPO] [--allowerasing] PKG...".
set -euo pipefail
echo "dnf $*" >> /var/lib/standin-calls.log
[[ "${{1:-}}" == install ]] || {{ echo "dnf stand-in: unsupported: $*" >&2; exit 2; }}
shift
allowerasing=0
packages=()
for arg in "$@"; do
  case "$arg" in
    -y|--disableexcludes=*) ;;
    --allowerasing) allowerasing=1 ;;
    -*) echo "dnf stand-in: unsupported option $arg" >&2; exit 2 ;;
    *) packages+=("$arg") ;;
  esac
done
for package in "${{packages[@]}}"; do
  if [[ "$package" == curl ]] && grep -qx curl-minimal {INSTALLED} && (( ! allowerasing )); then
    echo "Error:" >&2
    echo " Problem: problem with installed package curl-minimal-7.76.1-19.el9.x86_64" >&2
    echo "  - package curl-minimal-7.76.1-19.el9.x86_64 conflicts with curl provided by curl-7.76.1-19.el9.x86_64" >&2
    exit 1
  fi
done
printf '%s\\n' "${{packages[@]}}" >> {INSTALLED}
"""


def sandbox_with(tmp_path: Path, installed: list[str]) -> Sandbox:
    box = Sandbox.create(tmp_path)
    box.write(f"{STANDIN_BIN}/rpm", RPM, 0o755)
    box.write(f"{STANDIN_BIN}/dnf", DNF, 0o755)
    box.write(INSTALLED, "".join(f"{name}\n" for name in installed))
    return box


def install_script(runtime: str) -> str:
    # No CNI: the script then needs no network (no manifests, no helm).
    return prepare.install_script(cluster_for("rocky-9", "1.34.3", cni="none", runtime=runtime))


@pytest.mark.parametrize("runtime", ["containerd", "cri-o"])
def test_curl_minimal_is_kept_and_nftables_installed(tmp_path: Path, runtime: str) -> None:
    box = sandbox_with(tmp_path, ["curl-minimal"])
    box.write(prepare.INSTALL_PATH, install_script(runtime), 0o755)
    # The stand-in is strict: asking it for curl next to curl-minimal fails, as dnf does.
    refused = box.run(["dnf", "install", "-y", "curl"])
    assert refused.returncode == 1 and "conflicts with curl" in refused.stderr
    result = box.run([prepare.INSTALL_PATH])
    assert result.returncode == 0, result.stderr
    assert "curl or curl-minimal is installed already" in result.stderr
    installed = box.read(INSTALLED).split()
    assert "nftables" in installed and "kubelet-1.34.3" in installed
    assert "curl" not in installed


def test_curl_is_installed_where_there_is_none(tmp_path: Path) -> None:
    box = sandbox_with(tmp_path, [])
    box.write(prepare.INSTALL_PATH, install_script("containerd"), 0o755)
    result = box.run([prepare.INSTALL_PATH])
    assert result.returncode == 0, result.stderr
    installed = box.read(INSTALLED).split()
    assert {"curl", "nftables", "ca-certificates"} <= set(installed)
    calls = box.read("/var/lib/standin-calls.log").splitlines()
    assert not any("--allowerasing" in call for call in calls)


@pytest.mark.parametrize("os_name", ["rocky-9", "almalinux-9", "ubuntu-22.04", "ubuntu-24.04", "debian-12"])
def test_install_phase_installs_nftables(os_name: str) -> None:
    script = prepare.install_script(cluster_for(os_name, "1.34.3"))
    if os_name.startswith(("rocky", "almalinux")):
        assert "local packages=(cri-tools kubernetes-cni ca-certificates nftables)" in script
        assert "dnf install -y --allowerasing" not in script
        assert "rpm -q --quiet curl || rpm -q --quiet curl-minimal" in script and "packages+=(curl)" in script
    else:
        assert " curl ca-certificates nftables\n" in script
