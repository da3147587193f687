"""``make bench-assistant``: time to first token and total time through the panel versus the
lab endpoint directly (same request, same run, interleaved), then 50 concurrent streams
through one web process. Writes bench/results/assistant.json and assistant.png.

Everything runs on loopback: the lab's fake NVIDIA endpoint and one ``mailpanel web``
(uvicorn) process, each a process of its own, in a throwaway data folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.assistant import measure
from bench.assistant.measure import Timing
from bench.assistant.peers import ROOT, Peers, start

RESULTS = ROOT / "bench" / "results"
ADDED_TTFT_TARGET_MS = 10.0
# The lab's own bar for 50 concurrent streams straight from the fake (tests/lab/test_llm.py).
STALL_LIMIT_MS = 250.0


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def p(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 2) if len(values) > 1 else values[0]


def summary(timings: list[Timing]) -> dict[str, Any]:
    ttft = [t.ttft_ms for t in timings]
    total = [t.total_ms for t in timings]
    return {
        "runs": len(timings),
        "all_complete": all(t.ok for t in timings),
        "ttft_ms": {"median": median(ttft), "p90": p(ttft, 90), "min": round(min(ttft), 2)},
        "total_ms": {"median": median(total), "p90": p(total, 90)},
        "tokens_per_stream": median([float(len(t.tokens)) for t in timings]),
    }


async def sequential(peers: Peers, runs: int) -> dict[str, Any]:
    body = measure.chat_body()
    async with httpx.AsyncClient(cookies=peers.cookies, timeout=30) as client:
        await client.get(peers.panel_url + "/assistant/")  # the CSRF cookie
        for _ in range(3):  # warm both paths: connections, imports, caches
            await measure.direct(client, peers.llm_url, body)
            await measure.brief_then_stream(client, peers.panel_url)
        panel: list[Timing] = []
        direct: list[Timing] = []
        for _ in range(runs):
            direct.append(await measure.direct(client, peers.llm_url, body))
            panel.append(await measure.brief_then_stream(client, peers.panel_url))
    paired = [pt.ttft_ms - dt.ttft_ms for pt, dt in zip(panel, direct, strict=True)]
    added = median([pt.ttft_ms for pt in panel]) - median([dt.ttft_ms for dt in direct])
    return {
        "direct": summary(direct),
        "panel": summary(panel),
        "panel_brief_post_ms": {"median": median([t.extra_ms for t in panel])},
        "panel_brief_to_first_token_ms": {
            "median": median([t.extra_ms + t.ttft_ms for t in panel])
        },
        "added_ttft_ms": {
            "median_of_medians": round(added, 2),
            "median_paired": median(paired),
            "target": ADDED_TTFT_TARGET_MS,
            "met": added <= ADDED_TTFT_TARGET_MS,
        },
        "series": {
            "direct_ttft_ms": [round(t.ttft_ms, 2) for t in direct],
            "panel_ttft_ms": [round(t.ttft_ms, 2) for t in panel],
            "direct_total_ms": [round(t.total_ms, 2) for t in direct],
            "panel_total_ms": [round(t.total_ms, 2) for t in panel],
        },
    }


async def concurrent(peers: Peers, count: int, pace_ms: float) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    stream_urls = await sync_to_async(pending_drafts)(peers.panel_url, count)
    body = measure.chat_body()
    limits = httpx.Limits(max_connections=count * 2, max_keepalive_connections=count * 2)
    async with httpx.AsyncClient(cookies=peers.cookies, timeout=60, limits=limits) as client:
        direct = await asyncio.gather(
            *(measure.direct(client, peers.llm_url, body) for _ in range(count))
        )
        began = time.perf_counter()
        panel = await asyncio.gather(*(measure.through_panel(client, u) for u in stream_urls))
        wall = time.perf_counter() - began
    return {
        "streams": count,
        "pace_ms": pace_ms,
        "wall_s": round(wall, 3),
        "panel": _gaps(panel, pace_ms),
        "direct": _gaps(direct, pace_ms),
        "series": {
            "panel_max_gap_ms": [round(t.max_gap_ms, 2) for t in panel],
            "direct_max_gap_ms": [round(t.max_gap_ms, 2) for t in direct],
            "panel_ttft_ms": [round(t.ttft_ms, 2) for t in panel],
        },
    }


def _gaps(timings: list[Timing], pace_ms: float) -> dict[str, Any]:
    gaps = [g for t in timings for g in t.gaps_ms()]
    worst = max(t.max_gap_ms for t in timings)
    return {
        "all_complete": all(t.ok for t in timings),
        "max_inter_token_gap_ms": round(worst, 2),
        "p99_inter_token_gap_ms": p(gaps, 99),
        "median_inter_token_gap_ms": median(gaps),
        "max_gap_over_pace": round(worst / pace_ms, 2),
        "ttft_ms": {
            "median": median([t.ttft_ms for t in timings]),
            "max": round(max(t.ttft_ms for t in timings), 2),
        },
        "stalled_streams": sum(1 for t in timings if t.max_gap_ms > STALL_LIMIT_MS),
        "stall_limit_ms": STALL_LIMIT_MS,
    }


def pending_drafts(panel_url: str, count: int) -> list[str]:
    """Drafts waiting for their answer, as the brief's POST leaves them (made in bulk here)."""
    from lab.samples import BRIEF
    from mailpanel.accounts.models import User
    from mailpanel.assistant import actions

    user = User.objects.get(email="bench@example.test")
    inputs = {k: v for k, v in BRIEF.items() if k != "kind"}
    drafts = [actions.start_draft(user, "email", inputs) for _ in range(count)]
    return [f"{panel_url}/assistant/drafts/{d.pk}/stream/" for d in drafts]


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seq, conc = result["sequential"]["series"], result["concurrent"]["series"]
    fig, (ttft, total, gaps) = plt.subplots(1, 3, figsize=(15, 4.5))
    runs = range(1, len(seq["panel_ttft_ms"]) + 1)
    ttft.plot(runs, seq["direct_ttft_ms"], "o-", ms=3, label="endpoint directly")
    ttft.plot(runs, seq["panel_ttft_ms"], "o-", ms=3, label="through the panel")
    ttft.set(title="Time to first token", xlabel="run", ylabel="ms")
    total.plot(runs, seq["direct_total_ms"], "o-", ms=3, label="endpoint directly")
    total.plot(runs, seq["panel_total_ms"], "o-", ms=3, label="through the panel")
    total.set(title="Whole answer", xlabel="run", ylabel="ms")
    streams = range(1, len(conc["panel_max_gap_ms"]) + 1)
    gaps.bar(streams, sorted(conc["panel_max_gap_ms"]), label="through the panel", alpha=0.7)
    gaps.plot(streams, sorted(conc["direct_max_gap_ms"]), "k.", label="endpoint directly")
    gaps.axhline(result["concurrent"]["pace_ms"], color="green", ls="--", label="fake's pace")
    gaps.set(
        title=f"{len(streams)} concurrent streams: largest gap per stream",
        xlabel="stream (sorted)",
        ylabel="ms",
    )
    for axis in (ttft, total, gaps):
        axis.legend(fontsize=8)
        axis.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.assistant")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--pace-ms", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        peers = start(Path(tmp), args.pace_ms)
        try:
            result: dict[str, Any] = {
                "benchmark": "assistant",
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": _cpus(),
                    # Other work on the machine moves these figures; say how busy it was.
                    "load_average_at_start": round(os.getloadavg()[0], 2),
                },
                "setup": "fake NVIDIA (lab.llm) and one `mailpanel web` (uvicorn) process on "
                "loopback, SQLite; one httpx client with keep-alive for both paths",
                "sequential": asyncio.run(sequential(peers, args.runs)),
                "concurrent": asyncio.run(concurrent(peers, args.concurrent, args.pace_ms)),
            }
        finally:
            peers.stop()
    result["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "assistant.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out / "assistant.png")
    print(json.dumps(_headline(result), indent=2))


def _cpus() -> int:
    return os.cpu_count() or 0


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    seq, conc = result["sequential"], result["concurrent"]
    return {
        "ttft_ms_direct_median": seq["direct"]["ttft_ms"]["median"],
        "ttft_ms_panel_median": seq["panel"]["ttft_ms"]["median"],
        "added_ttft_ms": seq["added_ttft_ms"],
        "total_ms_direct_median": seq["direct"]["total_ms"]["median"],
        "total_ms_panel_median": seq["panel"]["total_ms"]["median"],
        "brief_to_first_token_ms_median": seq["panel_brief_to_first_token_ms"]["median"],
        "concurrent_panel": {k: v for k, v in conc["panel"].items() if k != "ttft_ms"},
        "concurrent_direct_max_gap_ms": conc["direct"]["max_inter_token_gap_ms"],
    }


if __name__ == "__main__":
    main()
