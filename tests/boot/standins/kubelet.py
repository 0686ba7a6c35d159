#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real kubelet
"""A stand-in for kubelet in kgen's boot-test image.

``kubelet --version`` prints ``Kubernetes <STANDIN_VERSION>`` (from /etc/kgen-standin.env, default
v1.31.4). Run as the kubelet service after kubeadm (the stand-in) wrote /var/lib/kubelet/config.yaml,
it stays up like a healthy kubelet until stopped; anything else exits 0.
``KGEN_STANDIN_ROOT`` (environment) prefixes every path, for running it outside the test image.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

DEFAULT_VERSION = "v1.31.4"


def at(path: str) -> Path:
    return Path(os.environ.get("KGEN_STANDIN_ROOT", "/")) / path.lstrip("/")


def standin_version() -> str:
    try:
        text = at("/etc/kgen-standin.env").read_text(encoding="utf-8")
    except OSError:
        text = ""
    value = DEFAULT_VERSION
    for raw in text.splitlines():
        key, sep, rest = raw.strip().partition("=")
        if sep and key.strip().removeprefix("export ").strip() == "STANDIN_VERSION" and rest.strip():
            value = rest.strip().strip("'\"")
    return value if value.startswith("v") else "v" + value


def main(argv: list[str]) -> int:
    args = argv[1:]
    if "--version" in args or "--version=true" in args:
        print(f"Kubernetes {standin_version()}")
        return 0
    as_service = any(a == "--config" or a.startswith("--config=") for a in args)
    if as_service and at("/var/lib/kubelet/config.yaml").exists():
        signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
        while True:
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
