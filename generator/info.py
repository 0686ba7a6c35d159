"""What kgen pins and what a cluster needs, as data: ``kgen versions``, ``kgen images``, ``kgen ports``
and the control-plane form of ``kgen join-command``.

Nothing here keeps facts of its own. The versions come from the version table
(``data/versions.yaml``, read through :mod:`generator.versions`), the images from the one first-boot
image table (:mod:`generator.images`, which the bake pre-pulls), the ports from the merge the
configure phase renders (:func:`generator.prepare.firewall_ports` over ``data/ports.yaml``) and the
shared PKI from the plan (:func:`generator.plan.shared_pki`). The reporters turn these values into
text or JSON (``schemas/kgen-versions.schema.json``, ``kgen-images``, ``kgen-ports``)."""

from __future__ import annotations

from typing import Any

from generator import __version__, cni, etcd_backup, guest, images, plan, prepare, versions
from generator.model import Cluster
from generator.records import record
from generator.secrets import SecretsBundle

CNI_PLUGINS = ("calico", "cilium", "flannel")


# --- kgen versions ------------------------------------------------------------------------------------


@record
class CniPin:
    plugin: str
    version: str
    tested: bool  # the minor is in the plugin's `kubernetes` list (kgen warns otherwise)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "tested": self.tested}


@record
class MinorPins:
    """What kgen pins for one Kubernetes minor."""

    release: versions.KubernetesRelease
    crio_stream: str  # the CRI-O minor stream kgen installs by default for this Kubernetes minor
    etcd_tools: str | None  # the etcdctl/etcdutl version the etcd backups use (the etcd image's version)
    cni: tuple[CniPin, ...]
    openstack_cloud_provider: str | None

    def to_json(self) -> dict[str, Any]:
        r = self.release
        return {
            "minor": r.minor,
            "latestPatch": str(r.latest_patch),
            "kubeadmAPIVersion": r.kubeadm_api_version,
            "images": {"pause": r.pause_image, "etcd": r.etcd_image, "coredns": r.coredns_image},
            "containerd": {
                "package": r.containerd_package,
                "minimum": list(r.containerd_minimums),
                "configVersion": r.containerd_config_version,
            },
            "crio": {"stream": self.crio_stream},
            "etcdTools": self.etcd_tools,
            "cni": {pin.plugin: pin.to_json() for pin in self.cni},
            "openstackCloudProvider": self.openstack_cloud_provider,
        }


@record
class CniSummary:
    release: versions.CniRelease

    def to_json(self) -> dict[str, Any]:
        c = self.release
        extra: dict[str, Any] = {}
        if "operatorImage" in c.extra:  # Calico: the tigera-operator the manifests run
            extra["operatorImage"] = str(c.extra["operatorImage"])
        if "chart" in c.extra:  # Cilium: a Helm chart, installed with a pinned helm
            extra["chart"] = str(c.extra["chart"]["url"])
            extra["helm"] = str(c.extra["helm"]["version"])
        return {
            "plugin": c.plugin,
            "version": c.version,
            "kubernetes": list(c.kubernetes_minors),
            # The images a first boot pulls, as the plugin module names them (Calico: the operator and
            # what it deploys; the others list theirs in the table).
            "images": list(cni.plugin(c.plugin).images(c)),
            "manifests": [m.url for m in c.manifests],
            **extra,
        }


@record
class VersionsReport:
    minors: tuple[MinorPins, ...]
    cni: tuple[CniSummary, ...]
    addons: dict[str, str]  # add-on -> image

    def to_json(self) -> dict[str, Any]:
        """The shape schemas/kgen-versions.schema.json describes."""
        return {
            "kind": "KgenVersions",
            "kgenVersion": __version__,
            "kubernetes": [m.to_json() for m in self.minors],
            "cni": [c.to_json() for c in self.cni],
            "addons": dict(self.addons),
        }


def versions_report() -> VersionsReport:
    table = versions.table()
    cloud_provider = table.get("openstackCloudProvider", {}).get("releases", {})
    cni_releases = [versions.cni_release(plugin) for plugin in CNI_PLUGINS if plugin in table["cni"]]
    minors = []
    for minor in versions.supported_minors():
        release = versions.kubernetes_release(minor)
        etcd = etcd_backup.etcd_version(release.etcd_image)
        minors.append(
            MinorPins(
                release=release,
                # CRI-O follows the Kubernetes minor unless the config pins another (model.build).
                crio_stream=minor,
                etcd_tools=etcd if etcd in table.get("etcdTools", {}) else None,
                cni=tuple(
                    CniPin(c.plugin, c.version, tested=not c.kubernetes_minors or minor in c.kubernetes_minors)
                    for c in cni_releases
                ),
                openstack_cloud_provider=str(cloud_provider[minor]) if minor in cloud_provider else None,
            )
        )
    addons = {name: str(entry["image"]) for name, entry in table.get("addons", {}).items() if "image" in entry}
    return VersionsReport(minors=tuple(minors), cni=tuple(CniSummary(c) for c in cni_releases), addons=addons)


# --- kgen images --------------------------------------------------------------------------------------


@record
class ImagesReport:
    """Every image a cluster's first boots ask for, from the table the bake pre-pulls."""

    cluster: str
    kubernetes_version: str
    cni: str
    first_boot: images.FirstBootImages

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """The images by who asks for them, as the CRI lists them (``docker.io/...`` spelled out)."""
        fb = self.first_boot
        return {
            "kubeadm": tuple(images.normalize_image(i) for i in fb.kubeadm),
            "cni": tuple(images.normalize_image(i) for i in fb.cni),
            "addons": tuple(images.normalize_image(i) for i in fb.addons),
        }

    @property
    def all(self) -> tuple[str, ...]:
        """Every image once, sorted: exactly what a golden image holds and what to mirror."""
        return self.first_boot.all

    def to_json(self) -> dict[str, Any]:
        """The shape schemas/kgen-images.schema.json describes."""
        return {
            "kind": "FirstBootImages",
            "cluster": self.cluster,
            "kubernetesVersion": self.kubernetes_version,
            "cni": self.cni,
            "groups": {name: list(refs) for name, refs in self.groups.items()},
            "images": list(self.all),
        }


def images_report(cluster: Cluster) -> ImagesReport:
    return ImagesReport(
        cluster=cluster.name,
        kubernetes_version=str(cluster.kubernetes_version),
        cni=cluster.cni.plugin,
        first_boot=images.first_boot_images(cluster),
    )


# --- kgen ports ---------------------------------------------------------------------------------------


@record
class PortRule:
    port: str | None  # "6443", "30000-32767"; None for a protocol without ports (ipencap)
    protocol: str
    purpose: str
    source: str | None  # "control-plane": only control-plane nodes need it; None: any node of the cluster

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "protocol": self.protocol, "purpose": self.purpose, "from": self.source}


@record
class PortsReport:
    cluster: str
    cni: str
    roles: dict[str, tuple[PortRule, ...]]

    def to_json(self) -> dict[str, Any]:
        """The shape schemas/kgen-ports.schema.json describes."""
        return {
            "kind": "FirewallPorts",
            "cluster": self.cluster,
            "cni": self.cni,
            "roles": {role: [r.to_json() for r in rules] for role, rules in self.roles.items()},
        }


def ports_report(cluster: Cluster) -> PortsReport:
    """The ports each role opens: the very merge the configure phase renders into its firewalld step."""
    merged = prepare.firewall_ports(cluster)
    roles = {
        role: tuple(
            PortRule(
                port=str(row["port"]) if "port" in row else None,
                protocol=str(row["protocol"]),
                purpose=str(row["purpose"]),
                source=str(row["from"]) if "from" in row else None,
            )
            for row in rows
        )
        for role, rows in merged.items()
    }
    return PortsReport(cluster=cluster.name, cni=cluster.cni.plugin, roles=roles)


# --- kgen join-command --control-plane --------------------------------------------------------------


@record
class JoinCommand:
    command: str
    # What must be on the node before the command runs (a control-plane join); never key material.
    note: str | None = None


def join_command(cluster: Cluster, bundle: SecretsBundle, *, control_plane: bool = False) -> JoinCommand:
    """``kubeadm join`` with the cluster's token and CA hash. kubeadm's join flags: ``--token``,
    ``--discovery-token-ca-cert-hash``, ``--control-plane`` and ``--certificate-key``
    (kubernetes/kubernetes cmd/kubeadm/app/cmd/join.go, addJoinConfigFlags and addJoinOtherFlags).

    A control-plane join gets no ``--certificate-key``: kgen never runs ``kubeadm init --upload-certs``
    (the kubeadm-certs Secret it would decrypt does not exist); every kgen control plane gets the
    shared PKI from its user-data instead. A control-plane join without a certificate key needs those
    files in /etc/kubernetes/pki, or its preflight fails (SharedCertificateExists in
    cmd/kubeadm/app/phases/certs/certs.go), so the note names them; this function never reads a key."""
    command = (
        f"kubeadm join {cluster.endpoint} --token {bundle.bootstrap_token} "
        f"--discovery-token-ca-cert-hash {bundle.ca_cert_hash}"
    )
    if not control_plane:
        return JoinCommand(command)
    names = ", ".join(f.name for f in plan.shared_pki(bundle))
    note = (
        f"before running it as root on the new node, put the cluster's shared PKI into {guest.PKI_DIR}/ "
        f"({names}; keys mode 0600), e.g. copied from {guest.KGEN_PKI_DIR}/ on an existing control-plane node; "
        "add --apiserver-advertise-address IP if the node's default interface is not the one to use"
    )
    return JoinCommand(f"{command} --control-plane", note)
