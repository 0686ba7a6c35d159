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

A second mode serves downloads (kgen's fetch_pinned and etcd tools installer): an http(s) URL is answered
from the file /var/lib/kgen-standin/www/<host>/<path>, written to ``--output``; a missing file is a 404,
which ``--fail`` turns into exit 22 with no output file (man curl, -f/--fail: "no output"). ``--proto
=https`` refuses any other scheme with exit 1, "Protocol ... disabled" (man curl, --proto; exit 1 is
CURLE_UNSUPPORTED_PROTOCOL). The record of a download also holds the proxy variables curl saw (curl
reads http_proxy, HTTPS_PROXY/https_proxy and NO_PROXY/no_proxy: man curl, ENVIRONMENT), so a test can
check what kgen's scripts export.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

# typing is imported only for the type checker: each call is a new process, and importing typing is ~8 ms
# of a ~40 ms call (the annotations are strings: from __future__ import annotations).
TYPE_CHECKING = False
if TYPE_CHECKING:
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


# The options kgen's download helpers pass (templates/_fetch_pinned.sh.j2, kgen-etcd-tools.sh.j2).
DOWNLOAD_FLAGS = ("--fail", "--silent", "--show-error", "--location")
DOWNLOAD_OPTIONS = (
    "--retry",
    "--retry-delay",
    "--connect-timeout",
    "--max-time",
    "--output",
    "--proto",
    "--proto-redir",
)
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")
URL = re.compile(r"^(?P<scheme>[a-z]+)://(?P<host>[^/]+)(?P<path>/.*)?$")


def parse_download(args: list[str]) -> tuple[str, dict[str, str]]:
    """(URL, options) of a download; ValueError for anything the stand-in does not model."""
    options: dict[str, str] = {}
    url = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in DOWNLOAD_FLAGS:
            options[arg] = ""
        elif arg in DOWNLOAD_OPTIONS:
            if i + 1 >= len(args):
                raise ValueError(f"option {arg}: requires parameter")
            i += 1
            options[arg] = args[i]
        elif arg.startswith("-"):
            raise ValueError(f"option {arg}: is unknown")
        elif url is None:
            url = arg
        else:
            raise ValueError("more than one URL")
        i += 1
    if url is None:
        raise ValueError("no URL specified")
    if "--fail" not in options or "--output" not in options:
        raise ValueError("the stand-in serves downloads with --fail and --output only")
    return url, options


def download(args: list[str]) -> int:
    state = Path(os.environ.get("KGEN_STANDIN_ROOT", "/")) / "var/lib/kgen-standin"
    state.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"tool": "curl", "argv": args, "env": {k: os.environ.get(k) for k in PROXY_VARIABLES}}
    try:
        url, options = parse_download(args)
    except ValueError as exc:
        print(f"curl: {exc}", file=sys.stderr)
        rc = 2
    else:
        match = URL.match(url)
        proto = options.get("--proto")
        if match is None:
            print(f"curl: (3) URL rejected: {url}", file=sys.stderr)
            rc = 3
        elif match["scheme"] not in ("http", "https") or (proto is not None and proto != f"={match['scheme']}"):
            print(f'curl: (1) Protocol "{match["scheme"]}" disabled', file=sys.stderr)
            rc = 1
        else:
            served = state / "www" / match["host"] / (match["path"] or "/").lstrip("/")
            if served.is_file():
                Path(options["--output"]).write_bytes(served.read_bytes())
                rc = 0
            else:
                print("curl: (22) The requested URL returned error: 404", file=sys.stderr)
                rc = 22
    record["rc"] = rc
    with (state / "calls.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({**record, "time": time.time()}) + "\n")
    return rc


def main(argv: list[str]) -> int:
    args = argv[1:]
    if "--output" in args and args[args.index("--output") + 1 :][:1] != ["/dev/null"]:
        return download(args)
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
