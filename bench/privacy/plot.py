"""The figure: the timings against their targets, the export's memory, rows a rotation writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import RESULTS


def plot(result: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (times, memory, rows) = plt.subplots(1, 3, figsize=(16, 5))
    _timings(times, result)
    _memory(memory, result)
    _rows(rows, result)
    account = result["account"]
    fig.suptitle(
        f"Privacy at scale: one account of {account['servers']:,} servers, "
        f"{account['domains']:,} domains, {account['job_log_lines']:,} job log lines, "
        f"{account['activity_events']:,} events; rotation over "
        f"{result['rotation_users']:,} users x {result['secrets_per_user']} secrets",
        fontsize=11,
    )
    fig.tight_layout()
    path = RESULTS / "privacy.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _timings(ax: Any, result: dict[str, Any]) -> None:
    targets = result["targets"]
    bars = [
        ("export", result["export_seconds"], targets["export_seconds"]),
        ("delete", result["delete_seconds"], targets["delete_seconds"]),
        ("rotate\n(data keys)", result["rotation_seconds_data_keys"], None),
        ("rotate\n(re-encrypt all)", result["rotation_seconds_reencrypt"], None),
    ]
    xs = range(len(bars))
    ax.bar(xs, [b[1] for b in bars], color=["C0", "C1", "C2", "C7"])
    for x, (_, value, target) in zip(xs, bars, strict=True):
        ax.text(x, value, f"{value:.1f} s", ha="center", va="bottom", fontsize=9)
        if target is not None:
            ax.hlines(target, x - 0.4, x + 0.4, colors="red", linestyles="--")
            ax.text(x, target, f"target {target:.0f} s", ha="center", va="bottom", color="red")
    ax.set_xticks(list(xs), [b[0] for b in bars])
    ax.set_ylabel("seconds (one run)")
    ax.set_ylim(0, max(max(b[1] for b in bars), targets["delete_seconds"]) * 1.15)
    ax.set_title("Wall time against the targets")
    ax.grid(True, axis="y", alpha=0.3)


def _memory(ax: Any, result: dict[str, Any]) -> None:
    samples = result["export_rss_samples"]
    ax.plot([t for t, _ in samples], [mb for _, mb in samples], label="export worker RSS")
    ax.axhline(result["targets"]["export_peak_rss_mb"], color="red", linestyle="--")
    ax.axhline(result["worker_baseline_rss_mb"], color="grey", linestyle=":")
    ax.text(0, result["targets"]["export_peak_rss_mb"], " target 200 MB", va="bottom", color="red")
    ax.text(0, result["worker_baseline_rss_mb"], " baseline after setup", va="bottom")
    for stage in result["export_stages"]:
        ax.axvline(stage["at_seconds"], color="C1", alpha=0.4)
        ax.text(stage["at_seconds"], 5, stage["stage"], rotation=90, fontsize=8, va="bottom")
    ax.set_xlabel("seconds since the export started")
    ax.set_ylabel("resident memory (MB)")
    ax.set_ylim(0, result["targets"]["export_peak_rss_mb"] * 1.15)
    ax.set_title(
        f"Export: peak {result['export_peak_rss_mb']:.0f} MB, ZIP {result['export_zip_mb']:.1f} MB"
    )
    ax.grid(True, alpha=0.3)


def _rows(ax: Any, result: dict[str, Any]) -> None:
    data_keys = result["rotation_rows_written_data_keys"]
    reencrypt = result["rotation_rows_written_reencrypt"]
    ax.bar([0, 1], [data_keys, reencrypt], color=["C2", "C7"])
    # The data-key figure sits just under the target line: its label goes inside the bar.
    ax.text(0, data_keys / 2, f"{data_keys:,}", ha="center", va="center", color="white")
    ax.text(1, reencrypt, f"{reencrypt:,}", ha="center", va="bottom")
    ceiling = reencrypt / result["targets"]["rotation_ratio_at_least"]
    ax.axhline(ceiling, color="red", linestyle="--")
    ax.text(
        0.55,
        ceiling * 1.3,
        f"target: at most {ceiling:,.0f} (10x fewer)",
        color="red",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9},
    )
    ax.set_xticks(
        [0, 1], ["data keys\n(rewrap one per user)", "former way\n(re-encrypt every value)"]
    )
    ax.set_ylabel("rows written (UPDATE/INSERT/DELETE rowcount)")
    ax.set_ylim(0, reencrypt * 1.15)
    ax.set_title(f"Key rotation: {result['rotation_ratio']:.1f}x fewer rows written")
    ax.grid(True, axis="y", alpha=0.3)
