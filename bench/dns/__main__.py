"""`python -m bench.dns`: 200 domains' mail records on each fake, panel vs dns-lexicon.

Writes bench/results/dns.json and dns.png. Every peer is an in-process fake on 127.0.0.1
with 50 ms added to each request.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import tempfile
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")
os.environ.setdefault("MAILPANEL_DATA_DIR", tempfile.mkdtemp(prefix="mailpanel-bench-dns-"))
django.setup()

from bench.dns import lexicon_side, panel  # noqa: E402
from bench.dns.setup import (  # noqa: E402
    CREDENTIALS,
    DOMAINS,
    LATENCY_S,
    World,
    mail_domain,
    start,
    writes,
    zone_names,
)
from mailpanel.domains.dkim import generate_key_pair  # noqa: E402

NAMECOM_NOTE = (
    "Name.com has no batch API and allows 20 requests a second per account: 200 fresh "
    "zones need at least 1,400 record writes plus one read each, so no client can go "
    "below ~80 s, and the panel's one extra call is the account's zone listing. The "
    "panel's gain on Name.com is the re-apply (201 reads, 0 writes, where lexicon would "
    "send 1,400 creates again), not the first apply."
)
RESULTS = Path(__file__).resolve().parent.parent / "results"
# The zone a write went to: /zones/{id}/..., /domains/{name}/..., /dns/zones/{name}
ZONE_IN_PATH = re.compile(r"/(?:zones|domains)/([^/]+)")


def measure_panel(world: World, dkim: str, label: str) -> dict[str, Any]:
    world.reset()
    domains = [mail_domain(z, dkim) for z in zone_names("panel")]
    creds = CREDENTIALS[world.kind]["panel"]
    run = asyncio.run(panel.apply_all(world.kind, creds, world.fake.base_url, domains))
    requests = world.requests()
    written = writes(requests)
    per_zone: dict[str, int] = {}
    for request in written:
        zone = ZONE_IN_PATH.search(request.path)
        key = zone.group(1) if zone else request.path
        per_zone[key] = per_zone.get(key, 0) + 1
    result = {
        "calls": len(requests),
        "write_calls": len(written),
        "seconds": round(run.seconds, 3),
        "max_write_calls_per_zone": max(per_zone.values(), default=0),
        "zones_written": len(per_zone),
        "changes": run.changes,
    }
    if world.kind == "openprovider":
        result["zone_puts"] = sum(1 for r in written if r.method == "PUT")
    print(f"{world.kind:12} panel {label:8} {result}", flush=True)
    return result


def measure_lexicon(world: World, dkim: str) -> dict[str, Any]:
    world.reset()
    domains = [mail_domain(z, dkim) for z in zone_names("lexicon")]
    creds = CREDENTIALS[world.kind]["lexicon"]
    run = lexicon_side.apply_all(world.kind, creds, world.fake.base_url, domains)
    requests = world.requests()
    result = {
        "calls": len(requests),
        "write_calls": len(writes(requests)),
        "seconds": round(run.seconds, 3),
        "errors": len(run.errors),
        "first_errors": run.errors[:3],
    }
    print(f"{world.kind:12} lexicon          {result}", flush=True)
    return result


def targets(results: dict[str, Any]) -> dict[str, bool]:
    cf, nc, op = (results[k] for k in ("cloudflare", "namecom", "openprovider"))
    return {
        "cloudflare_at_most_one_write_per_zone": cf["panel"]["max_write_calls_per_zone"] <= 1,
        "openprovider_exactly_one_put_per_zone": op["panel"]["zone_puts"] == DOMAINS
        and op["panel"]["max_write_calls_per_zone"] == 1,
        **{
            f"{k}_fewer_calls_than_lexicon": results[k]["panel"]["calls"]
            < results[k]["lexicon"]["calls"]
            for k in ("cloudflare", "namecom")
        },
        **{
            f"{k}_5x_less_time_than_lexicon": results[k]["panel"]["seconds"] * 5
            <= results[k]["lexicon"]["seconds"]
            for k in ("cloudflare", "namecom")
        },
        "reapply_makes_no_write_call": all(
            results[k]["reapply"]["write_calls"] == 0 for k in results
        ),
        "namecom_lexicon_ok": nc["lexicon"]["errors"] == 0 and cf["lexicon"]["errors"] == 0,
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.27
    series = [("panel", "panel"), ("reapply", "panel, re-apply"), ("lexicon", "dns-lexicon")]
    for offset, (key, label) in enumerate(series):
        xs = [i + (offset - 1) * width for i in range(len(kinds))]
        left.bar(xs, [results[k].get(key, {}).get("calls", 0) for k in kinds], width, label=label)
        right.bar(xs, [results[k].get(key, {}).get("seconds", 0) for k in kinds], width,
                  label=label)  # fmt: skip
    for axis, title in ((left, "API calls"), (right, "wall time (s)")):
        axis.set_xticks(range(len(kinds)), kinds)
        axis.set_title(f"{title}, {DOMAINS} domains, {int(LATENCY_S * 1000)} ms latency")
        axis.set_yscale("log")
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    _private, dkim_public = generate_key_pair()
    dkim = f"v=DKIM1; k=rsa; p={dkim_public}"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dns-") as folder:
        for kind in ("cloudflare", "namecom", "openprovider"):
            world = start(kind, Path(folder))
            try:
                entry = {"panel": measure_panel(world, dkim, "apply"),
                         "reapply": measure_panel(world, dkim, "re-apply")}  # fmt: skip
                if kind in lexicon_side.PROVIDERS:
                    entry["lexicon"] = measure_lexicon(world, dkim)
                results[kind] = entry
            finally:
                world.fake.stop()
                world.store.close()
    report = {
        "domains": DOMAINS,
        # Counted from the set applied (a zone already holding some would need fewer).
        "records_per_domain": len(lexicon_side.records(mail_domain("x.bench.test", dkim))),
        "latency_ms": int(LATENCY_S * 1000),
        "panel_concurrency": panel.CONCURRENCY,
        "python": platform.python_version(),
        "providers": results,
        "targets": targets(results),
        "notes": [
            "In-process lab fakes on 127.0.0.1, 50 ms added to every request; their quotas "
            "are off (lexicon does not pace itself), the panel's own Name.com pacing "
            "(18 requests/s per account) is on, as in production.",
            "calls = every HTTP request the fake answered (logins included); write_calls "
            "= requests other than GET and login.",
            "The panel reads each zone before writing (plan, then apply): that read is what "
            "makes the re-apply write nothing. Lexicon creates blindly, one call per record, "
            "after listing the account's zones for each domain; it runs sequentially, one "
            "domain after another, as its Client is used.",
            "Lexicon has no endpoint setting: the benchmark sets the provider object's "
            "api_endpoint attribute after construction (lexicon's code unchanged). Lexicon has "
            "no OpenProvider provider.",
            NAMECOM_NOTE,
        ],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dns.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, RESULTS / "dns.png")
    print(json.dumps(report["targets"], indent=2))


if __name__ == "__main__":
    main()
