"""Paths on the node: every file kgen writes there or reads back from it, named once. The templates
get this module as ``guest`` in their context (see :mod:`generator.templating`), the plan and the
emitters import it, and the runners read the same markers and logs."""

from __future__ import annotations

from generator.records import record


@record
class GuestFile:
    """A file cloud-init writes on the node."""

    path: str
    content: str
    permissions: str  # octal string, as cloud-init's write_files wants it
    secret: bool = False


# --- kgen's own folders -----------------------------------------------------------------------------
STATE_DIR = "/var/lib/kgen"  # the first-boot script's markers
SUCCESS_MARKER = f"{STATE_DIR}/bootstrap-success"
FAILURE_MARKER = f"{STATE_DIR}/bootstrap-failure"
BOOTSTRAP_LOG = "/var/log/kgen-bootstrap.log"
CONFIG_DIR = "/etc/kgen"
LIB_DIR = "/usr/local/lib/kgen"

# --- the first-boot script and what it reads ----------------------------------------------------------
BOOTSTRAP_PATH = "/usr/local/sbin/kgen-bootstrap"
KUBEADM_CONFIG_PATH = f"{CONFIG_DIR}/kubeadm.yaml"
# kubeadm's certificates folder (ClusterConfiguration.certificatesDir, the default).
PKI_DIR = "/etc/kubernetes/pki"
# kgen's copy of the shared PKI, outside anything kubeadm reset cleans; the script keeps it 0700.
KGEN_PKI_DIR = f"{CONFIG_DIR}/pki"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_KUBECONFIG = "/etc/kubernetes/super-admin.conf"
STATIC_POD_DIR = "/etc/kubernetes/manifests"

# --- node preparation ---------------------------------------------------------------------------------
INSTALL_PATH = f"{LIB_DIR}/node-install.sh"
CONFIGURE_PATH = f"{LIB_DIR}/node-configure.sh"
IMAGE_MANIFEST = f"{CONFIG_DIR}/image.json"  # what a golden image holds
MODULES_LOAD_CONF = "/etc/modules-load.d/kgen-kubernetes.conf"
SYSCTL_CONF = "/etc/sysctl.d/99-kgen-kubernetes.conf"
CRIO_DROPIN_PATH = "/etc/crio/crio.conf.d/10-kgen.conf"
METADATA_RULES_PATH = f"{CONFIG_DIR}/nftables/metadata-block.nft"
METADATA_UNIT = "kgen-metadata-block.service"
UNIT_DIR = "/etc/systemd/system"
METADATA_UNIT_PATH = f"{UNIT_DIR}/{METADATA_UNIT}"

# --- CNI ----------------------------------------------------------------------------------------------
# Where a golden image keeps the downloaded upstream manifests (the install phase writes them), and
# where user-data puts the resources rendered for this cluster.
CNI_IMAGE_MANIFEST_DIR = "/opt/kgen/cni"
CNI_RENDERED_DIR = f"{CONFIG_DIR}/cni"

# --- add-ons ------------------------------------------------------------------------------------------
KUBE_VIP_MANIFEST = f"{STATIC_POD_DIR}/kube-vip.yaml"
# Staged copies the first-boot script moves into place: kubeadm join refuses a non-empty manifests
# folder, and the first node must run kube-vip with super-admin.conf while kubeadm init runs.
KUBE_VIP_STAGED_INIT = f"{CONFIG_DIR}/kube-vip-init.yaml"
KUBE_VIP_STAGED = f"{CONFIG_DIR}/kube-vip.yaml"
OPENSTACK_STORAGE_CLASS = f"{CONFIG_DIR}/openstack/cinder-storageclass.yaml"
OPENSTACK_MANIFEST_DIR = f"{CONFIG_DIR}/openstack/manifests"

# --- etcd backups -------------------------------------------------------------------------------------
ETCD_BACKUP_SERVICE = "kgen-etcd-backup.service"
ETCD_BACKUP_TIMER = "kgen-etcd-backup.timer"
ETCD_BACKUP_SCRIPT = "/usr/local/sbin/kgen-etcd-backup"
ETCD_TOOLS_SCRIPT = "/usr/local/sbin/kgen-etcd-tools"
ETCD_TOOLS_ROOT = f"{LIB_DIR}/etcd"
ETCD_TOOLS_LINK_DIR = "/usr/local/bin"

ETCD_RESTORE_SCRIPT = "/usr/local/sbin/kgen-etcd-restore"
ETCD_RESTORE_WORK_DIR = f"{STATE_DIR}/etcd-restore"

# --- certificate renewal ------------------------------------------------------------------------------
CERTS_RENEW_SERVICE = "kgen-certs-renew.service"
CERTS_RENEW_TIMER = "kgen-certs-renew.timer"
CERTS_RENEW_SCRIPT = "/usr/local/sbin/kgen-certs-renew"

# --- restricted networks: registry mirrors, trusted CAs, proxies --------------------------------------
# The cloud metadata service's address (OpenStack Nova's, at the address EC2 made common): the metadata
# block drops pods' traffic to it, and the proxy settings always bypass it.
METADATA_ADDRESS = "169.254.169.254"
CONTAINERD_CERTS_D = "/etc/containerd/certs.d"
CONTAINERD_REGISTRY_AUTH = "/etc/containerd/kgen-registry-auth.toml"
CRIO_MIRRORS_PATH = "/etc/containers/registries.conf.d/50-kgen-mirrors.conf"
CRIO_REGISTRY_AUTH_DROPIN = "/etc/crio/crio.conf.d/20-kgen-registry-auth.conf"
REGISTRY_CA_DIR = f"{CONFIG_DIR}/registries"
APT_PROXY_CONF = "/etc/apt/apt.conf.d/90kgen-proxy"
DNF_CONF = "/etc/dnf/dnf.conf"

# --- the bake -----------------------------------------------------------------------------------------
BUILD_SUDOERS = "/etc/sudoers.d/90-kgen-build"

# --- `kgen vm` (the guest-side reporter) ---------------------------------------------------------------
VM_STATE_DIR = "/var/lib/kgen-vm"
VM_COLLECT_DIR = f"{VM_STATE_DIR}/collect"
VM_REPORT_JSON = f"{VM_STATE_DIR}/report.json"
VM_RUN_DIR = "/run/kgen-vm"
VM_REPORTER = f"{VM_RUN_DIR}/report.py"
VM_REPORT_UNIT = "kgen-vm-report.service"
