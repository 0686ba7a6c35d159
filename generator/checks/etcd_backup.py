"""``spec.etcdBackup``: a schedule systemd accepts, and a folder of its own."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from generator import systemd_calendar
from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import CLUSTER_SCHEMA, Normalized
from generator.rawconfig import lookup
from generator.resources import load_schema

# Folders snapshots must not go to: a restore replaces /var/lib/etcd, kubeadm owns /etc/kubernetes, and
# the rest are cleared at boot or are not storage. (S108 flags "/tmp": here it is a path to refuse.)
FORBIDDEN_BACKUP_DIRS = ("/var/lib/etcd", "/etc/kubernetes", "/proc", "/sys", "/dev", "/run", "/tmp")  # noqa: S108


def check_etcd_backup_schedule(n: Normalized) -> Iterator[Problem]:
    """The schedule becomes the timer's OnCalendar=; a value systemd refuses fails the node's first
    boot, so it is checked with a port of systemd's own parser (generator/systemd_calendar.py)."""
    doc = n.doc
    path: KeyPath = ("spec", "etcdBackup", "schedule")
    schedule = lookup(doc.data, *path)
    pattern = lookup(load_schema(CLUSTER_SCHEMA), "properties", "spec", "properties", "etcdBackup", "properties")
    if not isinstance(schedule, str) or not re.search(pattern["schedule"]["pattern"], schedule):
        return  # the schema reported it
    message = systemd_calendar.calendar_problem(schedule, "*-*-* 00/6:00:00")
    if message is not None:
        yield doc.problem(path, message)


def check_etcd_backup(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    path: KeyPath = ("spec", "etcdBackup", "directory")
    directory = lookup(doc.data, *path)
    if not isinstance(directory, str) or not directory.startswith("/"):
        return
    normalized = posixpath.normpath(directory)
    if normalized == "/":
        yield doc.problem(path, "snapshots need a folder of their own, not /")
        return
    for forbidden in FORBIDDEN_BACKUP_DIRS:
        if normalized == forbidden or normalized.startswith(forbidden + "/"):
            yield doc.problem(
                path,
                f"{directory} is inside {forbidden}, where snapshots would be lost (a restore replaces "
                "/var/lib/etcd; /run and /tmp are cleared at boot) or mixed with kubeadm's files; "
                "use a folder such as /var/backups/etcd",
            )
