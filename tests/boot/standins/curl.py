#!/usr/bin/python3
# KGEN TEST STAND-IN — not the real curl
"""A stand-in for curl that answers one question: is the local API server ready (``/readyz``)?

It accepts only the options kgen's certificate-renewal script passes (``--silent --fail --insecure
--max-time N --output /dev/null URL``); any other option is an error, as curl's is for an unknown one
("option --x: is unknown", exit 2). The URL must be ``https://127.0.0.1:<port>/readyz``.

The answer follows the static pods the crictl stand-in runs: with no running kube-apiserver container
the connection is refused (curl exit 7); /readyz includes the etcd check (the apiserver's readyz
"etcd" and "etcd-readiness" checks), so while etcd's manifest is present but its container is not
running the server answers 500 and ``--fail`` makes that exit 22 (man curl, EXIT CODES). Every
call is recorded in /var/lib/kgen-standin/calls.jsonl.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

OPTIONS_WITH_VALUE = ("--max-time", "--output")
FLAGS = ("--silent", "--fail", "--insecure")
READYZ = re.compile(r"^https://127\.0\.0\.1:[0-9]{1,5}/readyz$")


def crictl() -> Any:
    path = Path(__file__).with_name("crictl")
    if not path.exists():
        path = Path(__file__).with_name("crictl.py")
    spec = importlib.util.spec_from_loader("kgen_crictl_standin", loader=None, origin=str(path))
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)  # noqa: S102
    return module


def parse(args: list[str]) -> str:
    seen: set[str] = set()
    url = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in FLAGS:
            seen.add(arg)
        elif arg in OPTIONS_WITH_VALUE:
            if i + 1 >= len(args):
                raise ValueError(f"option {arg}: requires parameter")
            i += 1
            if arg == "--output" and args[i] != "/dev/null":
                raise ValueError("the stand-in only discards the body (--output /dev/null)")
            seen.add(arg)
        elif arg.startswith("-"):
            raise ValueError(f"option {arg}: is unknown")
        elif url is None:
            url = arg
        else:
            raise ValueError("more than one URL")
        i += 1
    missing = [o for o in (*FLAGS, *OPTIONS_WITH_VALUE) if o not in seen]
    if missing:
        raise ValueError(f"the stand-in expects {' '.join(missing)} (a bounded, quiet, body-less probe)")
    if url is None or not READYZ.match(url):
        raise ValueError(f"the stand-in only answers https://127.0.0.1:<port>/readyz, not {url!r}")
    return url


def main(argv: list[str]) -> int:
    args = argv[1:]
    standin = crictl()
    try:
        url = parse(args)
    except ValueError as exc:
        print(f"curl: {exc}", file=sys.stderr)
        rc, answer = 2, "usage"
    else:
        containers = standin.sync_kubelet()
        running = {c["name"] for c in containers if c["state"] == "running"}
        etcd_manifest = standin.at(f"{standin.MANIFESTS_DIR}/etcd.yaml").is_file()
        if "kube-apiserver" not in running:
            print(f"curl: (7) Failed to connect to {url}: Connection refused", file=sys.stderr)
            rc, answer = 7, "refused"
        elif etcd_manifest and "etcd" not in running:
            print("curl: (22) The requested URL returned error: 500", file=sys.stderr)
            rc, answer = 22, "500"
        else:
            rc, answer = 0, "ok"
    with (standin.state_dir() / "calls.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": "curl", "argv": args, "rc": rc, "answer": answer, "time": time.time()}) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
