"""The bootstrap sandbox itself (tests/sandbox.py): commands that run at the same time in one sandbox,
as an upgrade's batch of workers does when each drains through the one kubectl node, each mount /etc,
and what each writes there lands in the sandbox's one /etc.

overlayfs empties an overlay's work folder when it mounts (fs/overlayfs/super.c, ovl_workdir_create:
an existing "work" folder is cleaned up and made anew), so one work folder shared by two overlays
mounted at the same time fails one of the mounts now and then ("upper fs needs to support d_type" in
the kernel log, then EINVAL: mount(8) says "wrong fs type, bad option, bad superblock on overlay").
Before each command had its own work folder, test_upgrade's batch test failed that way in 3 of 15 runs
of the fast tier on a 2-core machine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.sandbox import Sandbox

# Each command writes a file into /etc, then waits in the sandbox's /tmp (a plain folder of the root, the
# same for every command) until all the others have started: the commands overlap for certain. Exit 9:
# they never did.
TOGETHER = """
echo "$0" > "/etc/kgen-probe-$0"
touch "/tmp/started-$0"
for _ in $(seq 200); do
  [ "$(ls /tmp/started-* | wc -l)" = "$1" ] && exit 0
  sleep 0.05
done
exit 9
"""


def _work_folder(command: list[str]) -> Path:
    """The overlay work folder the command's fstab gives its /etc mount."""
    script = command[-1]
    fstab = Path(re.search(r"mount -a -T (\S+)", script).group(1))  # type: ignore[union-attr]
    line = next(line for line in fstab.read_text(encoding="utf-8").splitlines() if line.startswith("overlay "))
    return Path(re.search(r"workdir=([^,\s]+)", line).group(1))  # type: ignore[union-attr]


def test_each_command_mounts_etc_with_a_work_folder_of_its_own(tmp_path: Path) -> None:
    box = Sandbox.create(tmp_path, standins=False)
    first, second = _work_folder(box.command(["true"])), _work_folder(box.command(["true"]))
    assert first != second
    for work in (first, second):
        assert work.is_dir() and not any(work.iterdir())
        assert not work.is_relative_to(box.root)  # beside the root: the guest does not see it


def test_commands_at_the_same_time_in_one_sandbox_all_write_its_etc(tmp_path: Path) -> None:
    box = Sandbox.create(tmp_path, standins=False)
    count = 6
    running = [
        subprocess.Popen(
            box.command(["bash", "-c", TOGETHER, str(i), str(count)]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for i, process in enumerate(running):
        out, err = process.communicate(timeout=60)
        assert (process.returncode, out, err) == (0, "", ""), f"command {i}"
    assert [box.read(f"/etc/kgen-probe-{i}") for i in range(count)] == [f"{i}\n" for i in range(count)]
