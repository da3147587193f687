from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.billing.plans import SERVERS, refuse_beyond_plan
from mailpanel.jobs.actions import start_job
from mailpanel.jobs.models import Job
from mailpanel.servers.models import HostKeyState, Server
from mailpanel.servers.ssh import fetch_host_key, fingerprint
from mailpanel.servers.sshloop import ssh_loop

HOST_KEY_TIMEOUT = 20.0


class HostKeyMismatch(Exception):
    pass


def add_server(owner: User, **fields: Any) -> Server:
    """Add a server; beyond the owner's plan, PlanLimitReached and nothing is added."""
    with transaction.atomic():
        refuse_beyond_plan(owner, SERVERS, Server.objects.filter(owner=owner).count)
        server = Server.objects.create(owner=owner, **fields)
        record_event(owner, "server.added", server, actor=owner)
    return server


def offer_host_key(server: Server) -> str:
    """First contact (or re-contact after a change): fetch and remember the offered key."""
    key = ssh_loop.submit(fetch_host_key(server.host, server.port)).result(HOST_KEY_TIMEOUT)
    Server.objects.filter(pk=server.pk).update(offered_host_key=key)
    server.offered_host_key = key
    return fingerprint(key)


def confirm_host_key(server: Server, shown_fingerprint: str) -> Job:
    """Pin the key the owner saw. A key that changed since the page was shown is refused."""
    if not server.offered_host_key or fingerprint(server.offered_host_key) != shown_fingerprint:
        raise HostKeyMismatch("The server offered a different key than the one you confirmed.")
    with transaction.atomic():
        previous = server.host_key_fingerprint
        server.host_key = server.offered_host_key
        server.host_key_fingerprint = shown_fingerprint
        server.host_key_state = HostKeyState.CONFIRMED
        server.host_key_confirmed_at = timezone.now()
        server.offered_host_key = ""
        server.save()
        message = f"pinned {shown_fingerprint}" + (f" (was {previous})" if previous else "")
        record_event(server.owner, "server.host_key_confirmed", server, actor=server.owner,
                     message=message)  # fmt: skip
        return start_server_job(server, "server.facts")


def start_server_job(server: Server, kind: str, **params: Any) -> Job:
    return start_job(
        server.owner, kind, target=server.name, params={"server_id": str(server.pk), **params}
    )


def start_converge(server: Server, purpose: str, **params: Any) -> Job:
    """Converge the mail stack; `purpose` (one of `jobs.CONVERGE_PURPOSES`, with the
    fields its title names) says what for, on the job's title and to the guided setup."""
    return start_server_job(server, "server.converge", purpose=purpose, **params)


def delete_server(server: Server) -> None:
    with transaction.atomic():
        record_event(server.owner, "server.deleted", server, actor=server.owner)
        server.delete()
