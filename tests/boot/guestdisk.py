"""Read and prepare a guest's ext4 disk from the host with debugfs (e2fsprogs): no mount, no loop
device. Used to give the test image a golden-image manifest before boot and to read evidence
(files, modes) after the VM powered off."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


class GuestDisk:
    """A raw ext4 filesystem image (the test image has no partition table)."""

    def __init__(self, raw: Path) -> None:
        self.raw = raw

    @classmethod
    def copy_of(cls, base: Path, dest: Path) -> GuestDisk:
        subprocess.run(["cp", "--sparse=always", str(base), str(dest)], check=True)
        return cls(dest)

    @classmethod
    def from_overlay(cls, overlay: Path, dest: Path) -> GuestDisk:
        """Flatten a qcow2 overlay (with its backing chain) into a raw image to read."""
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(overlay), str(dest)], check=True)
        return cls(dest)

    def _debugfs(self, command: str, *, write: bool = False) -> str:
        tool = shutil.which("debugfs") or "/usr/sbin/debugfs"
        args = [tool, *(["-w"] if write else []), "-R", command, str(self.raw)]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"debugfs {command!r} failed: {result.stderr}")
        return result.stdout

    def exists(self, path: str) -> bool:
        tool = shutil.which("debugfs") or "/usr/sbin/debugfs"
        result = subprocess.run(
            [tool, "-R", f"stat {path}", str(self.raw)], capture_output=True, text=True, check=False
        )
        return "File not found" not in result.stderr and result.stdout.strip() != ""

    def read(self, path: str) -> str:
        if not self.exists(path):
            raise FileNotFoundError(path)
        return self._debugfs(f"cat {path}")

    def mode(self, path: str) -> int:
        match = re.search(r"Mode:\s+(0?[0-7]+)", self._debugfs(f"stat {path}"))
        if not match:
            raise FileNotFoundError(path)
        return int(match.group(1), 8) & 0o7777

    def owner(self, path: str) -> tuple[int, int]:
        match = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", self._debugfs(f"stat {path}"))
        if not match:
            raise FileNotFoundError(path)
        return int(match.group(1)), int(match.group(2))

    def write(self, path: str, content: str, tmp: Path, mode: int = 0o644) -> None:
        """Create ``path`` (root-owned, ``mode``), making missing parent folders."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if not self.exists(folder):
                self._debugfs(f"mkdir {folder}", write=True)
        source = tmp / parts[-1]
        source.write_text(content, encoding="utf-8")
        if self.exists(path):
            self._debugfs(f"rm {path}", write=True)
        self._debugfs(f"write {source} {path}", write=True)
        self._debugfs(f"set_inode_field {path} mode 0100{mode:o}", write=True)
        self._debugfs(f"set_inode_field {path} uid 0", write=True)
        self._debugfs(f"set_inode_field {path} gid 0", write=True)
