"""The "test credential" job: use a stored credential once, against its real peer."""

from __future__ import annotations

import asyncio

import asyncssh
import httpx
from django.conf import settings

from mailpanel.jobs.context import JobContext, JobFailed
from mailpanel.jobs.registry import job_kind
from mailpanel.vault.access import open_for_job
from mailpanel.vault.models import Credential


@job_kind("credential.test", "Test credential")
def test_credential(ctx: JobContext) -> None:
    credential = Credential.objects.get(pk=str(ctx.params["credential_id"]), owner=ctx.job.owner)
    secret = open_for_job(credential, ctx)
    ctx.log(f"Testing {credential.kind_label} “{credential.label}”")
    if credential.kind == "ssh_key":
        _check_ssh_key(ctx, secret)
    elif credential.kind == "nvidia":
        _check_nvidia(ctx, secret["api_key"])
    elif credential.kind in settings.DNS_API_URLS:
        asyncio.run(_check_dns(ctx, credential.kind, secret))
    else:
        raise JobFailed("This kind of credential is tested when a server uses it.")
    ctx.progress(100, "Credential works")


def _check_ssh_key(ctx: JobContext, secret: dict[str, str]) -> None:
    key = asyncssh.import_private_key(secret["private_key"], secret.get("passphrase") or None)
    ctx.log(f"The key opens: {key.get_algorithm()} {key.get_fingerprint('sha256')}")


def _check_nvidia(ctx: JobContext, api_key: str) -> None:
    url = settings.NVIDIA_API_URL.rstrip("/") + "/models"
    ctx.log(f"GET {url}")
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=settings.OUTBOUND_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise JobFailed(f"NVIDIA's API did not answer: {type(exc).__name__}") from exc
    if response.status_code in (401, 403):
        raise JobFailed("NVIDIA rejected this key (revoked, mistyped, or out of credits).")
    if response.status_code >= 400:
        raise JobFailed(f"NVIDIA's API answered {response.status_code}; try again later.")
    models = [m.get("id") for m in response.json().get("data", [])]
    ctx.log(f"The key works: {len(models)} models offered.")


async def _check_dns(ctx: JobContext, kind: str, secret: dict[str, str]) -> None:
    from mailpanel.dns.providers.registry import make_provider
    from mailpanel.dns.types import ProviderError

    provider = make_provider(kind, secret, settings.DNS_API_URLS[kind])
    try:
        await provider.verify()
        zones = await provider.list_zones()
    except ProviderError as exc:
        raise JobFailed(f"{provider.title} said: {exc}") from exc
    except httpx.HTTPError as exc:
        raise JobFailed(f"{provider.title} did not answer: {type(exc).__name__}") from exc
    finally:
        await provider.aclose()
    ctx.log(f"The credential works: {len(zones)} zone(s) in the account.")
    for zone in zones[:50]:
        ctx.log(f"  {zone.name}")
