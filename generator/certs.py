"""Certificates: what expires when, and automatic renewal on control-plane nodes.

Two parts:

* :func:`check_bundle` reads the secrets bundle and reports each CA's expiry (``kgen certs check``).
  The CAs are the ones kgen generated (10 years, like kubeadm's ``CACertificateValidityPeriod``); the
  service-account key pair is a bare key with no expiry date.
* The renewal timer on control-plane nodes (``kgen-certs-renew.timer``): a oneshot service that runs
  ``kubeadm certs check-expiration -o json`` and, when a kubeadm-managed leaf certificate expires
  within ``spec.certificates.renewBeforeDays``, ``kubeadm certs renew all``, then restarts the static
  control-plane pods one at a time and refreshes the admin kubeconfig copies the bootstrap installed.

Upstream facts this relies on (kubernetes/kubernetes):
* cmd/kubeadm/app/constants/constants.go: ``CertificateValidityPeriod = time.Hour * 24 * 365`` (leaf
  certificates) and ``CACertificateValidityPeriod = time.Hour * 24 * 365 * 10`` (CAs).
* cmd/kubeadm/app/cmd/certs.go: ``check-expiration`` prints through kubeadm's output flags
  (``-o text|json|yaml``; JSON/YAML since v1.30, kubernetes/kubernetes#123372, which is kgen's oldest
  supported minor) an ``output.kubeadm.k8s.io/v1alpha3`` ``CertificateExpirationInfo``
  (cmd/kubeadm/app/apis/output/v1alpha3/types.go): ``certificates`` and ``certificateAuthorities``,
  each ``{name, expirationDate, residualTime (seconds), externallyManaged, caName, missing}``. The
  JSON printer drops kubeadm's "[check-expiration] Reading configuration ..." lines
  (``ResourcePrinterWrapper.Printf`` is a no-op, cmd/kubeadm/app/util/output/output.go).
* ``kubeadm certs renew all`` renews unconditionally and ends with "You must restart the
  kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new
  certificates." It renews the certificates in the kubeconfig files too (admin.conf, super-admin.conf,
  controller-manager.conf, scheduler.conf), but not kubelet.conf: the kubelet rotates its own client
  certificate (cmd/kubeadm/app/phases/certs/renewal/manager.go).

A feature module at the plan level, like :mod:`generator.etcd_backup`: it imports the model and the
foundation only (the settings, :class:`generator.model.CertificateRenewal`, are the model's)."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from cryptography import x509

from generator import __version__, guest, templating
from generator.guest import GuestFile
from generator.model import Cluster, Node
from generator.records import record
from generator.secrets import SecretsBundle
from generator.settings import CertificateRenewal

SERVICE = guest.CERTS_RENEW_SERVICE
TIMER = guest.CERTS_RENEW_TIMER
UNIT_DIR = guest.UNIT_DIR
RENEW_SCRIPT = guest.CERTS_RENEW_SCRIPT
STATE_DIR = guest.STATE_DIR
SUCCESS_MARKER = f"{STATE_DIR}/certs-renew-success"
FAILURE_MARKER = f"{STATE_DIR}/certs-renew-failure"
# kubeadm's folders (cmd/kubeadm/app/constants/constants.go: KubernetesDir, ManifestsSubDirName,
# AdminKubeConfigFileName).
KUBERNETES_DIR = "/etc/kubernetes"
MANIFESTS_DIR = f"{KUBERNETES_DIR}/manifests"
ADMIN_KUBECONFIG = f"{KUBERNETES_DIR}/admin.conf"
# Where a manifest waits while its static pod is stopped: outside the manifests folder (the kubelet
# reads every file there), on the same file system so moving it back is a rename.
PARKED_DIR = f"{KUBERNETES_DIR}/kgen-parked-manifests"
# The restart order: the API server first (it serves the new serving certificate and uses the new
# etcd and kubelet client certificates), then its clients, then etcd. One at a time, each waited for.
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
# kgen certs check warns when a CA expires within this many days.
CA_WARN_DAYS = 90
# Seconds the script waits for a static pod to stop or to come back (the kubelet looks at the manifests
# folder every 20 s, fileCheckFrequency, and gives a pod 30 s to stop).
WAIT_SECONDS = 300


# --- kgen certs check ---------------------------------------------------------------------------------

Status = Literal["ok", "warning", "expired", "no-expiry"]


@record
class BundleItem:
    """One CA (or the service-account key) of the bundle and when it expires."""

    name: str  # kubeadm's name: ca, etcd-ca, front-proxy-ca, sa
    bundle_key: str  # where it is in the secrets bundle
    description: str
    subject: str | None
    not_before: datetime.datetime | None
    not_after: datetime.datetime | None
    days_left: int | None
    status: Status

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bundleKey": self.bundle_key,
            "description": self.description,
            "subject": self.subject,
            "notBefore": _stamp(self.not_before),
            "notAfter": _stamp(self.not_after),
            "daysLeft": self.days_left,
            "status": self.status,
        }


@record
class BundleReport:
    """When each CA of a secrets bundle expires, as `kgen certs check` reports it."""

    cluster: str
    secrets_path: str
    checked_at: datetime.datetime
    warn_days: int
    items: tuple[BundleItem, ...]

    @property
    def status(self) -> Literal["ok", "warning", "expired"]:
        states = {item.status for item in self.items}
        return "expired" if "expired" in states else "warning" if "warning" in states else "ok"

    def to_json(self) -> dict[str, Any]:
        """The shape schemas/kgen-certs-check.schema.json describes."""
        return {
            "kind": "CertificateCheck",
            "cluster": self.cluster,
            "secrets": self.secrets_path,
            "checkedAt": _stamp(self.checked_at),
            "warnDays": self.warn_days,
            "status": self.status,
            "items": [item.to_json() for item in self.items],
        }

    def lines(self) -> list[str]:
        """The text report: one line per item, then a summary line."""
        out = [f"{'NAME':<16} {'EXPIRES (UTC)':<22} {'DAYS LEFT':>9}  STATUS     BUNDLE KEY"]
        for item in self.items:
            expires = item.not_after.strftime("%Y-%m-%d %H:%M") if item.not_after else "never"
            days = str(item.days_left) if item.days_left is not None else "-"
            out.append(f"{item.name:<16} {expires:<22} {days:>9}  {item.status:<10} {item.bundle_key}")
        for item in self.items:
            if item.status == "no-expiry":
                out.append(
                    f"{item.name}: {item.description} is a bare key pair with no expiry date; "
                    "kubeadm never renews it (replace it by hand only if it leaked)"
                )
            elif item.status in ("warning", "expired"):
                out.append(f"warning: {_attention(item)}")
        summary = {
            "ok": f"all CAs are valid for more than {self.warn_days} days",
            "warning": f"a CA expires within {self.warn_days} days",
            "expired": "a CA has expired",
        }[self.status]
        out.append(f"cluster {self.cluster}: {summary}")
        return out


def _attention(item: BundleItem) -> str:
    when = item.not_after.strftime("%Y-%m-%d") if item.not_after else "?"
    if item.status == "expired":
        state = f"the {item.description} ({item.name}) expired on {when}"
    else:
        state = f"the {item.description} ({item.name}) expires on {when}, in {item.days_left} days"
    return (
        f"{state}: kubeadm cannot renew a CA (`kubeadm certs renew` renews only the certificates a CA "
        'signed); plan a CA rotation (kubernetes.io, "Manual Rotation of CA Certificates") before then'
    )


def _stamp(moment: datetime.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def _ca_item(
    name: str, bundle_key: str, description: str, pem: str, now: datetime.datetime, warn_days: int
) -> BundleItem:
    cert = x509.load_pem_x509_certificate(pem.encode())
    not_after = cert.not_valid_after_utc
    left = not_after - now
    # Whole days left, rounded down; negative once expired.
    days_left = left.days
    status: Status = "expired" if left <= datetime.timedelta(0) else "warning" if left.days < warn_days else "ok"
    return BundleItem(
        name=name,
        bundle_key=bundle_key,
        description=description,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_left=days_left,
        status=status,
    )


def check_bundle(
    bundle: SecretsBundle,
    *,
    secrets_path: str,
    now: datetime.datetime | None = None,
    warn_days: int = CA_WARN_DAYS,
) -> BundleReport:
    """Each CA's expiry, and the service-account key (which has none). Reads only the public
    certificates; no key material reaches the report."""
    now = now or datetime.datetime.now(datetime.UTC)
    items = (
        _ca_item("ca", "ca", "cluster CA", bundle.ca.certificate, now, warn_days),
        _ca_item("etcd-ca", "etcdCA", "etcd CA", bundle.etcd_ca.certificate, now, warn_days),
        _ca_item("front-proxy-ca", "frontProxyCA", "front-proxy CA", bundle.front_proxy_ca.certificate, now, warn_days),
        BundleItem(
            name="sa",
            bundle_key="serviceAccount",
            description="service-account signing key",
            subject=None,
            not_before=None,
            not_after=None,
            days_left=None,
            status="no-expiry",
        ),
    )
    return BundleReport(
        cluster=bundle.cluster,
        secrets_path=secrets_path,
        checked_at=now.replace(microsecond=0),
        warn_days=warn_days,
        items=items,
    )


# --- The renewal timer on control-plane nodes -----------------------------------------------------------


def renew_script(
    cluster: Cluster,
    renewal: CertificateRenewal,
    node: Node,
    *,
    wait_seconds: int = WAIT_SECONDS,
    poll_seconds: int = 2,
) -> str:
    """The script the service runs. ``wait_seconds`` and ``poll_seconds`` exist for tests."""
    return templating.render(
        "certs/kgen-certs-renew.sh.j2",
        kgen_version=__version__,
        cluster_name=cluster.name,
        node_name=node.name,
        admin_user=cluster.admin_user,
        renew_before_days=renewal.renew_before_days,
        readyz_url=f"https://127.0.0.1:{cluster.endpoint_port}/readyz",
        components=COMPONENTS,
        manifests_dir=MANIFESTS_DIR,
        parked_dir=PARKED_DIR,
        admin_kubeconfig=ADMIN_KUBECONFIG,
        state_dir=STATE_DIR,
        success_marker=SUCCESS_MARKER,
        failure_marker=FAILURE_MARKER,
        wait_seconds=wait_seconds,
        poll_seconds=poll_seconds,
    )


def service_unit(cluster: Cluster, node: Node) -> str:
    return templating.render(
        "certs/kgen-certs-renew.service.j2",
        kgen_version=__version__,
        description=templating.unit_text(
            f"kgen: renew kubeadm certificates on node {node.name} (cluster {cluster.name})"
        ),
        admin_kubeconfig=ADMIN_KUBECONFIG,
        renew_script=RENEW_SCRIPT,
    )


def timer_unit(cluster: Cluster, renewal: CertificateRenewal) -> str:
    return templating.render(
        "certs/kgen-certs-renew.timer.j2",
        kgen_version=__version__,
        description=templating.unit_text(f"kgen: daily check of kubeadm certificate expiry (cluster {cluster.name})"),
        schedule=templating.unit_text(renewal.schedule),
        service=SERVICE,
    )


def guest_files(cluster: Cluster, renewal: CertificateRenewal, node: Node) -> list[GuestFile]:
    """What a control-plane node's user-data writes for the renewal; nothing for a worker or when
    ``autoRenew`` is off. The first-boot script then runs :func:`enable_commands`."""
    if not renewal.auto_renew or not node.is_control_plane:
        return []
    return [
        GuestFile(RENEW_SCRIPT, renew_script(cluster, renewal, node), "0700"),
        GuestFile(f"{UNIT_DIR}/{SERVICE}", service_unit(cluster, node), "0644"),
        GuestFile(f"{UNIT_DIR}/{TIMER}", timer_unit(cluster, renewal), "0644"),
    ]


def enable_commands(renewal: CertificateRenewal, node: Node) -> list[list[str]]:
    """Commands (argv lists) the first-boot script runs on a control-plane node once kubeadm init or
    join succeeded. Starting the timer checks nothing now; the first check comes at the next
    scheduled time (``systemctl start kgen-certs-renew.service`` runs one now)."""
    if not renewal.auto_renew or not node.is_control_plane:
        return []
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", TIMER]]
