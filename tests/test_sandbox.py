"""The bootstrap sandbox itself (tests/sandbox.py): runs of one command line at the same time in one
sandbox, as the upgrade tests' ssh stand-in starts them when a batch of workers drains through the one
kubectl node, each mount /etc, and what each writes there lands in the sandbox's one /etc.

overlayfs empties an overlay's work folder when it mounts (fs/overlayfs/super.c, ovl_workdir_create:
an existing "work" folder is cleaned up and made anew), so one work folder shared by two overlays
mounted at the same time fails one of the mounts now and then ("upper fs needs to support d_type" in
the kernel log, then EINVAL or ENOENT from mount(8)). So each run makes its own work folder. With one
folder per sandbox, test_upgrade's batch test failed that way in 3 of 15 runs of the fast tier on a
2-core machine; with one per command line (which the ssh stand-in reuses) it still failed in CI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.sandbox import Sandbox

# Each run writes a file into /etc, then waits in the sandbox's /tmp (a plain folder of the root, the same
# for every run) until all the others have started: the runs overlap for certain. Exit 9: they never did.
# The runs share one command line, so each names its files by its own process id.
TOGETHER = """
echo "$$" > "/etc/kgen-probe-$$"
touch "/tmp/started-$$"
for _ in $(seq 200); do
  [ "$(ls /tmp/started-* | wc -l)" = "$0" ] && exit 0
  sleep 0.05
done
exit 9
"""


def test_each_run_of_a_command_mounts_etc_with_a_work_folder_of_its_own(tmp_path: Path) -> None:
    box = Sandbox.create(tmp_path, standins=False)
    command = box.command(["true"])
    for _ in range(2):
        assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    works = sorted(p for p in box.command_folders.iterdir() if p.is_dir())
    assert len(works) == 2
    for work in works:
        assert not work.is_relative_to(box.root)  # beside the root: the guest does not see it
        fstab = work.with_name(f"{work.name}.fstab").read_text(encoding="utf-8")
        overlay = next(line for line in fstab.splitlines() if line.startswith("overlay "))
        assert re.search(r"workdir=([^,\s]+)", overlay).group(1) == str(work)  # type: ignore[union-attr]


def test_runs_of_one_command_at_the_same_time_all_write_the_sandbox_etc(tmp_path: Path) -> None:
    box = Sandbox.create(tmp_path, standins=False)
    count = 6
    command = box.command(["bash", "-c", TOGETHER, str(count)])  # one command line, as the ssh stand-in
    running = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)
    ]
    for i, process in enumerate(running):
        out, err = process.communicate(timeout=60)
        assert (process.returncode, out, err) == (0, "", ""), f"run {i}"
    probes = sorted(box.path("/etc").glob("kgen-probe-*"))
    assert len(probes) == count
    assert all(p.read_text(encoding="utf-8") == p.name.removeprefix("kgen-probe-") + "\n" for p in probes)
