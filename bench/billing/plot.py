"""The figure: the handling times' distribution, and each delivery's time as the run went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.billing.deliveries import AHEAD, DUPLICATE, FIRST, Attempt
from bench.common import RESULTS

COLOURS = {FIRST: "tab:blue", AHEAD: "tab:orange", DUPLICATE: "tab:green"}
LABELS = {FIRST: "in order", AHEAD: "out of order (ahead)", DUPLICATE: "duplicate"}


def plot(result: dict[str, Any], attempts: list[Attempt], alone_ms: list[float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, timeline) = plt.subplots(1, 2, figsize=(13, 4.8))
    target, p95 = result["target_p95_ms"], result["p95_ms"]
    _cdf(cdf, [a.ms for a in attempts], f"{result['senders']} senders at once", "tab:blue")
    if alone_ms:
        _cdf(cdf, alone_ms, "one at a time (probe)", "tab:gray")
    cdf.axvline(p95, color="tab:blue", linestyle=":", label=f"p95 {p95:.0f} ms")
    cdf.axvline(target, color="red", linestyle="--", label=f"target p95 {target:.0f} ms")
    cdf.set_xscale("log")
    cdf.set_xlabel("ms from request to answer (log)")
    cdf.set_ylabel("share of deliveries")
    cdf.set_title(
        f"{result['events_sent']} deliveries of {result['distinct_events']} events: "
        f"p50 {result['p50_ms']:.0f} ms, p95 {p95:.0f} ms",
        fontsize=10,
    )
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend(loc="lower right", fontsize=8)

    start = min(a.started for a in attempts)
    for kind, colour in COLOURS.items():
        mine = [a for a in attempts if a.kind == kind]
        timeline.scatter(
            [a.started - start for a in mine],
            [a.ms for a in mine],
            s=8,
            c=colour,
            label=LABELS[kind],
        )
    failed = [a for a in attempts if not 200 <= a.status < 300]
    if failed:
        timeline.scatter(
            [a.started - start for a in failed],
            [a.ms for a in failed],
            s=30,
            marker="x",
            c="red",
            label=f"not 2xx ({len(failed)})",
        )
    timeline.axhline(target, color="red", linestyle="--", label=f"target {target:.0f} ms")
    timeline.set_yscale("log")
    timeline.set_xlabel("seconds since the first delivery")
    timeline.set_ylabel("ms (log)")
    timeline.set_title(
        f"exactly once: {result['applied_exactly_once']}, final states right: "
        f"{result['final_states_correct']} ({result['accounts']} accounts)",
        fontsize=10,
    )
    timeline.grid(True, which="both", alpha=0.3)
    timeline.legend(loc="upper right", fontsize=8)
    fig.suptitle(
        "Billing webhooks into one `mailpanel web` (SQLite, the lab's processor, 127.0.0.1)"
    )
    fig.tight_layout()
    path = RESULTS / "billing.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cdf(ax: Any, values: list[float], label: str, colour: str) -> None:
    xs = sorted(values)
    ys = [(n + 1) / len(xs) for n in range(len(xs))]
    ax.step(xs, ys, where="post", label=label, color=colour)
