"""The figure: notices arriving at the receiver over time; inbound mail stored over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import RESULTS


def plot(result: dict[str, Any], breach_times: list[float], inbound_times: list[float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (notices, inbound) = plt.subplots(1, 2, figsize=(13, 4.8))
    _cumulative(notices, breach_times, "notices received by the lab SMTP receiver")
    target = result["targets"]["breach_seconds"]
    notices.axvline(target, color="red", linestyle="--", label=f"target {target:.0f} s")
    notices.set_title(
        f"{result['breach_notices']:,} breach notices in {result['breach_seconds']} s "
        f"({result['notices_per_second']}/s); worker peak {result['worker_peak_rss_mb']} MB",
        fontsize=10,
    )
    notices.legend(loc="lower right")
    _cumulative(inbound, inbound_times, "messages stored (InboundMessage rows)")
    inbound.set_title(
        f"Inbound: {result['inbound_stored']:,} of {result['inbound_sent']:,} stored from "
        f"{result['inbound_senders']} senders ({result['inbound_per_second']}/s)",
        fontsize=10,
    )
    inbound.legend(loc="lower right")
    fig.suptitle("Breach notices out, mail to privacy@ and support@ in (127.0.0.1, SQLite)")
    fig.tight_layout()
    path = RESULTS / "notices.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cumulative(ax: Any, times: list[float], label: str) -> None:
    start = min(times) if times else 0.0
    xs = [t - start for t in sorted(times)]
    ax.plot(xs, range(1, len(xs) + 1), label=label)
    ax.set_xlabel("seconds since the first")
    ax.set_ylabel("messages")
    ax.grid(True, alpha=0.3)
