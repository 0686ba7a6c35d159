"""Paths in the output tree, relative to ``DIR/<cluster>/``: named once, used by the emitters, the
OpenStack kit and the CLI."""

from __future__ import annotations

NODES_DIR = "nodes"
INDEX = "nodes.json"
PACKER_DIR = "packer"
PACKER_EXAMPLE_VARS = f"{PACKER_DIR}/example.pkrvars.hcl"
OPENSTACK_DIR = "openstack"


def node_dir(name: str) -> str:
    return f"{NODES_DIR}/{name}"


def user_data(name: str) -> str:
    return f"{node_dir(name)}/user-data"


def meta_data(name: str) -> str:
    return f"{node_dir(name)}/meta-data"


def kubeadm_config(name: str) -> str:
    return f"{node_dir(name)}/kubeadm.yaml"


def bootstrap_script(name: str) -> str:
    return f"{node_dir(name)}/bootstrap.sh"


def packer_file(rel: str) -> str:
    return f"{PACKER_DIR}/{rel}"


def openstack_file(rel: str) -> str:
    return f"{OPENSTACK_DIR}/{rel}"
