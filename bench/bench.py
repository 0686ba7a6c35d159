"""Benchmarks: wall time, CPU time and peak RSS of whole kgen processes (figures, not a pass/fail test).

    python3 bench/bench.py              # all cases, median of 3
    python3 bench/bench.py --repeat 5
    python3 bench/bench.py --quick      # skip the 5,000 and 10,000 node cases

Targets (issue 12, 2 cores): 5,000 nodes (the node limit) in <= 3 s and <= 300 MB peak RSS, the cost
per node flat from 1,000 to 10,000 nodes, and rendering the example at most 1.5x a bare import of
kgen's dependencies. 10,000 nodes is over the limit, so that case runs the stages below validation
(load, model, plan, render, write) in one process instead of `kgen render`.

Every render case is measured in steady state (the output and the secrets bundle already exist, as
on a re-render), with kgen's bytecode compiled as in an installed package and kgen's Jinja bytecode
cache ($XDG_CACHE_HOME/kgen/) warm; "render example, cold cache" is the same render with an empty
cache folder each run (the first render after installing or upgrading kgen, which compiles every
template and writes the cache). CPU time is user + system
of the measured process; on a shared machine it moves less than wall time, so both are printed with
the load average."""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "cluster.yaml"
POOL_MAX = 1000  # the schema's maximum count per pool


def as_entry_imports(statement: str) -> str:
    """``statement`` run as generator/entry.py imports the CLI: the cyclic GC off during the imports,
    then gc.freeze(). A plain import also pays the GC's passes over the new objects, and its last pass
    over all of them when the process exits, which frozen objects skip."""
    return f"import gc; gc.disable(); {statement}; gc.freeze()"


# kgen's own runtime dependencies (pyproject.toml [project] dependencies), imported and nothing else.
BARE = "bare import of dependencies"
BARE_IMPORT = "import cryptography.x509, jinja2, jsonschema, tomli_w, typer, yaml"
# The same, imported as kgen imports itself: a stricter baseline, since the plain import also pays the
# GC's passes (about 0.1 s of a 0.45 s bare import on a slow day), which a render does not. Printed for
# comparison; issue 12's target is against the plain import.
BARE_FROZEN = "bare import, GC as kgen's entry point"
BARE_IMPORT_FROZEN = as_entry_imports(BARE_IMPORT)

# The CLI, and with it what `kgen render` imports beyond the CLI, imported as kgen imports them, so
# these lines add up to what a render spends importing (imported plainly, they would cost more than a
# whole render).
CLI_IMPORT = as_entry_imports("import generator.cli")
RENDER_IMPORT = as_entry_imports("import generator.cli, generator.api.cluster, generator.reporters")
COLD = "render example, cold cache"

# The stages below validation, for a config over the node limit.
STAGES = """
import sys
from pathlib import Path
from generator import model, plan, secrets, write
from generator.emit import render
from generator.load import load
config, out = Path(sys.argv[1]), Path(sys.argv[2])
cluster = model.build(load(config))
bundle_path = secrets.default_path(config)
if secrets.bundle_exists(bundle_path):
    bundle = secrets.load_bundle(bundle_path, cluster=cluster.name)
else:
    bundle = secrets.generate(cluster.name)
    bundle_path.write_text(bundle.to_yaml(), encoding="utf-8")
rendered = render.render_cluster(plan.plan(cluster, bundle))
write.write_tree(rendered.files, out / cluster.name)
"""


def kgen_command() -> list[str]:
    exe = shutil.which("kgen")
    return [exe] if exe else [sys.executable, "-m", "generator"]


def cluster_with_workers(count: int, dest: Path) -> Path:
    """The example with one control-plane node and ``count - 1`` workers in pools of at most 1,000."""
    data = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    data["metadata"]["name"] = f"bench-{count}"
    data["spec"]["nodes"] = data["spec"]["nodes"][:1]
    workers = count - 1
    data["spec"]["workerPools"] = [
        {"name": f"pool{i}", "count": min(POOL_MAX, workers - start)}
        for i, start in enumerate(range(0, workers, POOL_MAX))
    ]
    path = dest / f"cluster-{count}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_mib: float


def measure(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Wall seconds, CPU seconds and peak RSS of one child process, measured in a fresh helper process
    so RUSAGE_CHILDREN holds that child alone."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "w = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.returncode, w, u.ru_utime + u.ru_stime, u.ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=cwd, check=True, env=env
    )
    code, wall, cpu, rss_kib = out.stdout.split()
    if code != "0":
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(args)}")
    return Run(float(wall), float(cpu), int(rss_kib) / 1024)


def median_runs(cases: list[tuple[str, list[str], int]], cwd: Path, repeat: int) -> dict[str, Run]:
    """The median of ``repeat`` runs of each case, the cases taken in turn within each round: a shared
    machine's speed drifts over seconds, and measuring one case's runs back to back would put that
    drift into the ratio between two cases. The cold-cache case gets a new, empty XDG_CACHE_HOME each
    run."""
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in cases}
    for _ in range(repeat):
        for name, args, _ in cases:
            env = None
            if name == COLD:
                env = {**os.environ, "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="cache-", dir=cwd)}
            runs[name].append(measure(args, cwd, env))
    return {
        name: Run(*(statistics.median(getattr(r, f) for r in measured) for f in ("wall", "cpu", "rss_mib")))
        for name, measured in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    parser.add_argument("--quick", action="store_true", help="skip the 5,000 and 10,000 node cases")
    options = parser.parse_args()
    kgen = kgen_command()
    env_python = [sys.executable]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    counts = (1000,) if options.quick else (1000, 5000)
    # An installed kgen has its modules compiled (pip writes the bytecode on install); a checkout run
    # with PYTHONDONTWRITEBYTECODE=1 would compile every module again in every measured process.
    subprocess.run([*env_python, "-m", "compileall", "-q", str(REPO / "generator")], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="kgen-bench-") as tmp:
        work = Path(tmp)
        shutil.copy(EXAMPLE, work / "cluster.yaml")
        cases: list[tuple[str, list[str], int]] = [
            ("kgen --version", [*kgen, "--version"], 0),
            (BARE, [*env_python, "-c", BARE_IMPORT], 0),
            (BARE_FROZEN, [*env_python, "-c", BARE_IMPORT_FROZEN], 0),
            # Where the rest of a small render goes: the CLI alone, then with the modules `kgen render`
            # imports (generator.api binds its names on first use, so the first line is the CLI only).
            ("import generator.cli", [*env_python, "-c", CLI_IMPORT], 0),
            ("import generator.cli + render modules", [*env_python, "-c", RENDER_IMPORT], 0),
            ("render example (2 nodes)", [*kgen, "render", "cluster.yaml", "-d", "out"], 2),
            (COLD, [*kgen, "render", "cluster.yaml", "-d", "out"], 2),
        ]
        for count in counts:
            config = cluster_with_workers(count, work)
            cases.append((f"render {count} nodes", [*kgen, "render", config.name, "-d", "out"], count))
        if not options.quick:
            config = cluster_with_workers(10000, work)
            stages = [*env_python, "-c", STAGES, config.name, "out"]
            cases.append(("10000 nodes, over the limit: stages", stages, 10000))
        # The first render of each config writes its secrets bundle and tree (and kgen's template
        # cache); warm them up so every measured run is a steady-state re-render.
        for _, args, nodes in cases:
            if nodes:
                measure(args, work)
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'case':<38} {'wall (s)':>9} {'CPU (s)':>8} {'peak RSS (MiB)':>15} {'CPU ms/node':>12}")
        results = median_runs(cases, work, options.repeat)
        for name, _, nodes in cases:
            run = results[name]
            per_node = f"{run.cpu / nodes * 1000:12.2f}" if nodes >= 1000 else ""
            print(f"{name:<38} {run.wall:>9.3f} {run.cpu:>8.3f} {run.rss_mib:>15.1f} {per_node}")
        rows = (
            ("render example", "render example (2 nodes)", BARE, "target <= 1.5x, every run after the first"),
            ("render example", "render example (2 nodes)", BARE_FROZEN, "no target: the stricter baseline"),
            ("cold cache", COLD, BARE, "the first run after installing or upgrading kgen only; no target"),
        )
        for label, key, baseline, note in rows:
            example, bare = results[key], results[baseline]
            print(
                f"{label} / {baseline}: {example.wall / bare.wall:.2f}x wall, "
                f"{example.cpu / bare.cpu:.2f}x CPU ({note})"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; median of {options.repeat}")
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"python {sys.version.split()[0]}, max RSS of this script {self_rss:.0f} MiB")


if __name__ == "__main__":
    main()
