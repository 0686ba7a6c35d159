"""The API endpoint (parsed once by the normalize stage), the extra certificate SANs and the DNS domain."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from generator.errors import Problem
from generator.load import KeyPath
from generator.normalize import Normalized, is_dns_subdomain
from generator.rawconfig import lookup


def check_endpoint(n: Normalized) -> Iterator[Problem]:
    doc = n.doc
    path: KeyPath = ("spec", "controlPlane", "endpoint")
    if n.endpoint_error is not None:
        yield doc.problem(path, n.endpoint_error)
    sans = lookup(doc.data, "spec", "controlPlane", "certSANs")
    for i, san in enumerate(sans if isinstance(sans, list) else []):
        if isinstance(san, str) and not _is_ip_or_dns_name(san):
            yield doc.problem(
                ("spec", "controlPlane", "certSANs", i), f"{san!r} is neither an IP address nor a DNS name"
            )
    domain_path: KeyPath = ("spec", "networking", "dnsDomain")
    domain = lookup(doc.data, *domain_path)
    if isinstance(domain, str) and not is_dns_subdomain(domain):
        yield doc.problem(domain_path, f"{domain!r} is not a DNS domain (lowercase labels separated by dots)")


def _is_ip_or_dns_name(value: str) -> bool:
    if "%" in value:  # ipaddress accepts IPv6 zones; a certificate SAN cannot carry one
        return False
    if is_dns_subdomain(value.removeprefix("*.")) and len(value) <= 253:
        return True  # a DNS name (checked first: it is the common case and the cheaper test)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
