"""Servers against the lab: real hosts over SSH, the lab DNS and the lab SMTP receiver."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from huey.api import Huey

from lab import labnames
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.jobs.models import Job
from mailpanel.servers.actions import confirm_host_key, offer_host_key, start_server_job
from mailpanel.servers.models import Server
from mailpanel.vault.actions import create_credential
from mailpanel.vault.models import Credential
from tests.helpers import drain

RECEIVER_DOMAIN = labnames.RECEIVER_DOMAIN


@pytest.fixture
def lab_dns(lab: Any, settings: Any) -> Any:
    """The panel resolves through the lab DNS server."""
    settings.DNS_RESOLVERS = [lab.dns_address]
    settings.DNS_RESOLVER_PORT = 53
    return lab


@pytest.fixture
def acme_lab(lab_dns: Any, settings: Any) -> Any:
    """The lab, with the panel's ACME settings pointed at its pebble."""
    if not lab_dns.acme_directory:
        pytest.fail("the lab's ACME server (Debian package pebble) is missing")
    settings.ACME_DIRECTORY = lab_dns.acme_directory
    settings.ACME_CA_BUNDLE = str(lab_dns.acme_ca_path)
    return lab_dns


def receiver_zones(lab: Any) -> ZoneStore:
    """The lab's zone store; the lab itself publishes the receiving domain (MX mx.lab)."""
    store = ZoneStore(lab.zone_db)
    assert store.zones(provider="lab", account="receiver"), "the lab publishes receiver.test"
    return store


def publish_dkim(zones: ZoneStore, domain_name: str, record_name: str, value: str) -> None:
    """Publish a DKIM key straight into the lab DNS (the DNS app does it for users)."""
    existing = zones.zones(provider="lab", account=domain_name)
    zone = existing[0] if existing else zones.create_zone("lab", domain_name, domain_name)
    zones.delegate(domain_name, zone["id"])
    for record in zones.records(zone["id"]):
        zones.delete_record(record["id"])
    zones.add_record(zone["id"], record_name, "TXT", value, 300)


@pytest.fixture(scope="session")
def zones(lab: Any) -> Iterator[ZoneStore]:
    store = receiver_zones(lab)
    yield store
    store.close()


@pytest.fixture(scope="session")
def bare_host(lab: Any) -> Any:
    """A host of the bare image: provisioning runs the real apt-get install on it."""
    (host,) = lab.add_hosts(1, flavour="bare")
    return host


def root_key(owner: User, host: Any) -> Credential:
    """The lab's root key as the owner's credential (one per owner, reused)."""
    existing = Credential.objects.filter(owner=owner, label="lab root key").first()
    if existing:
        return existing
    pem = host.root_key_path.read_text()
    return create_credential(
        owner, "ssh_key", "lab root key", {"private_key": pem, "passphrase": ""}
    )


def pinned_server(owner: User, host: Any, **fields: Any) -> Server:
    """A server whose host key the owner confirmed (through the real first-contact path)."""
    if "credential" not in fields:
        fields["credential"] = root_key(owner, host)
    server = Server.objects.create(
        owner=owner,
        name=fields.pop("name", host.name),
        host=host.address,
        username=fields.pop("username", "root"),
        mail_hostname=fields.pop("mail_hostname", f"{host.name}.lab"),
        **fields,
    )
    shown = offer_host_key(server)
    confirm_host_key(server, shown)
    server.refresh_from_db()
    return server


def run(server: Server, kind: str, queue: Huey, **params: Any) -> Job:
    """Start a job on ``server`` and run the queue as the worker would."""
    job = start_server_job(server, kind, **params)
    drain(queue)
    job.refresh_from_db()
    return job


def log_text(job: Job) -> str:
    return "\n".join(job.log_lines.values_list("text", flat=True))


def ssh_root(host: Any, *command: str) -> str:
    result = subprocess.run(
        ["ssh", "-i", str(host.root_key_path), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         f"root@{host.address}", shlex.join(command)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout
