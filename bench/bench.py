"""Benchmarks: wall time and peak RSS of whole kgen commands (figures, not a pass/fail test).

    python3 bench/bench.py            # all cases
    python3 bench/bench.py --repeat 5

Targets on a 2-core machine: --version < 0.2 s; the example < 0.6 s; 1000 nodes < 5 s and 300 MB,
with cost growing linearly in the node count."""

from __future__ import annotations

import argparse
import copy
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "cluster.yaml"


def kgen_command() -> list[str]:
    exe = shutil.which("kgen")
    return [exe] if exe else [sys.executable, "-m", "generator"]


def cluster_with_workers(count: int, dest: Path) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["metadata"]["name"] = f"bench-{count}"
    data["spec"]["nodes"] = data["spec"]["nodes"][:1]
    data["spec"]["workerPools"] = [{"name": "worker", "count": count - 1}]
    path = dest / f"cluster-{count}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def measure(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process, measured in a fresh helper process so
    RUSAGE_CHILDREN holds that child alone."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "w = time.perf_counter() - t\n"
        "print(r.returncode, w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=cwd, check=True)
    code, wall, rss_kib = out.stdout.split()
    if code != "0":
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(args)}")
    return float(wall), int(rss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    options = parser.parse_args()
    kgen = kgen_command()
    with tempfile.TemporaryDirectory(prefix="kgen-bench-") as tmp:
        work = Path(tmp)
        shutil.copy(EXAMPLE, work / "cluster.yaml")
        cases: list[tuple[str, list[str]]] = [("kgen --version", [*kgen, "--version"])]
        cases.append(("render example (2 nodes)", [*kgen, "render", "cluster.yaml", "-o", "out"]))
        for count in (100, 1000):
            config = cluster_with_workers(count, work)
            cases.append((f"render {count} nodes", [*kgen, "render", config.name, "-o", "out"]))
        # The first render of each config generates its secrets bundle; warm them up so every
        # measured run is a steady-state render.
        for _, args in cases[1:]:
            measure(args, work)
        print(f"{'case':<28} {'wall (s)':>10} {'peak RSS (MiB)':>15}   (median of {options.repeat})")
        for name, args in cases:
            runs = [measure(args, work) for _ in range(options.repeat)]
            wall = statistics.median(r[0] for r in runs)
            rss = statistics.median(r[1] for r in runs)
            print(f"{name:<28} {wall:>10.3f} {rss:>15.1f}")
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"python {sys.version.split()[0]}, max RSS of this script {self_rss:.0f} MiB")


if __name__ == "__main__":
    main()
