"""The benchmark's world: a fake per provider with latency, two accounts, 200 empty zones each.

The panel and lexicon each get an account of their own on the same fake (same latency, same
code paths), so neither starts from records the other wrote.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from lab.providers.base import FakeProvider, RecordedRequest
from lab.providers.cloudflare import FakeCloudflare
from lab.providers.namecom import FakeNameCom
from lab.providers.openprovider import FakeOpenProvider
from lab.zonestore import ZoneStore
from mailpanel.dns.desired import DkimPublication, MailDomain

DOMAINS = int(os.environ.get("MAILPANEL_BENCH_DNS_DOMAINS", "200"))  # fewer for a quick look
LATENCY_S = 0.050
SERVER_IP = "192.0.2.25"  # documentation range: only ever data in a record
CREDENTIALS = {
    "cloudflare": {"panel": {"token": "benchPanelToken0123456789abcdefghijklmn"},
                   "lexicon": {"token": "benchLexiconToken0123456789abcdefghijk"}},
    "namecom": {"panel": {"username": "bench-panel", "token": "benchPanelToken0123"},
                "lexicon": {"username": "bench-lexicon", "token": "benchLexiconToken01"}},
    "openprovider": {"panel": {"username": "bench-panel", "password": "bench-Panel-pw"},
                     "lexicon": {"username": "bench-lexicon", "password": "bench-Lex-pw"}},
}  # fmt: skip
FAKES: dict[str, type[FakeProvider]] = {
    "cloudflare": FakeCloudflare, "namecom": FakeNameCom, "openprovider": FakeOpenProvider,
}  # fmt: skip


def zone_names(side: str) -> list[str]:
    return [f"{side}-{i:03d}.bench.test" for i in range(DOMAINS)]


def mail_domain(zone: str, dkim_value: str) -> MailDomain:
    return MailDomain(
        name=zone, mail_host=f"mail.{zone}", ipv4=(SERVER_IP,),
        dkim=(DkimPublication("mp202611", dkim_value),), dmarc_policy="quarantine",
        report_address=f"reports@{zone}",
    )  # fmt: skip


@dataclass
class World:
    kind: str
    fake: FakeProvider
    store: ZoneStore

    def requests(self) -> list[RecordedRequest]:
        """The request log once it stops growing (a fake logs just after answering)."""
        count = -1
        while count != len(self.fake.requests):
            count = len(self.fake.requests)
            time.sleep(0.05)
        return list(self.fake.requests)

    def reset(self) -> None:
        self.requests()
        self.fake.reset_counters()


def start(kind: str, folder: Path) -> World:
    store = ZoneStore(folder / f"{kind}.sqlite")
    fake = FAKES[kind](store)
    for side in ("panel", "lexicon"):
        creds = CREDENTIALS[kind][side]
        fake.add_account(*creds.values(), zone_names(side))  # type: ignore[attr-defined]
    # Quotas off: lexicon does not pace itself and would be cut off by them; the panel's own
    # pacing (Name.com: 18 requests a second per account) stays on, as in production.
    fake.rate_limits = []
    fake.latency_s = LATENCY_S
    fake.start()
    return World(kind, fake, store)


def writes(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method != "GET" and not r.path.endswith("/auth/login")]
