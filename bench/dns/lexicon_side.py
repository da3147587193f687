"""dns-lexicon's side: the same records, one `create_record` each, as lexicon is used.

Lexicon has no setting for the API endpoint: its Cloudflare and Name.com providers set
`self.api_endpoint` to the real API in `__init__`. The benchmark sets that attribute on each
provider object after constructing it (lexicon's own code unchanged), then calls
`authenticate()` and `create_record()` exactly as `lexicon.client.Client` does: one
authenticated provider per domain, the records one after another. Lexicon has no
OpenProvider provider, so that comparison does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lexicon._private.providers.cloudflare import Provider as LexiconCloudflare
from lexicon._private.providers.namecom import Provider as LexiconNameCom
from lexicon.config import ConfigResolver

from mailpanel.dns.desired import MailDomain, build

PROVIDERS: dict[str, Any] = {"cloudflare": LexiconCloudflare, "namecom": LexiconNameCom}


@dataclass
class LexiconRun:
    seconds: float
    errors: list[str]


def records(domain: MailDomain) -> list[tuple[str, str, str]]:
    desired = build(domain, domain.name, [], ttl=3600)
    return [(w.record.type, w.record.name, w.record.content) for w in desired.wanted]


def provider_for(kind: str, domain: str, credentials: dict[str, str], base_url: str) -> Any:
    auth = {"auth_token": credentials["token"]}
    if kind == "namecom":
        auth["auth_username"] = credentials["username"]
    config = ConfigResolver().with_dict({  # type: ignore[no-untyped-call]
        # Cloudflare's provider wants the priority as text, Name.com's passes it on as is.
        "provider_name": kind, "domain": domain, "ttl": 3600, kind: auth,
        "priority": "10" if kind == "cloudflare" else 10,
    })  # fmt: skip
    provider = PROVIDERS[kind](config)
    provider.api_endpoint = base_url  # no option for it in lexicon (see above)
    return provider


def apply_all(kind: str, credentials: dict[str, str], base_url: str,
              domains: Sequence[MailDomain]) -> LexiconRun:  # fmt: skip
    started = time.perf_counter()
    errors: list[str] = []
    for domain in domains:
        provider = provider_for(kind, domain.name, credentials, base_url)
        try:
            provider.authenticate()
            for rtype, name, content in records(domain):
                provider.create_record(rtype, name, content)
        except Exception as exc:  # count and go on: one domain's failure is its own
            errors.append(f"{domain.name}: {type(exc).__name__}: {exc}"[:200])
    return LexiconRun(time.perf_counter() - started, errors)
