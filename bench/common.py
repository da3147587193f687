"""Shared by the benchmarks: timing, medians, JSON and a PNG plot."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def plot_series(
    name: str, title: str, x_label: str, xs: list[int], series: dict[str, list[float]]
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in series.items():
        ax.plot(xs, values, marker="o", label=label)
    ax.set_xlabel(x_label)
    ax.set_ylabel("seconds (median)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_steps(name: str, title: str, steps: list[tuple[str, float]], target: float) -> Path:
    """Horizontal bars of the steps of one run, in order, with the target as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label for label, _ in steps]
    seconds = [value for _, value in steps]
    starts = [sum(seconds[:i]) for i in range(len(seconds))]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(steps) + 1.6))
    ax.barh(labels, seconds, left=starts)
    for y, (start, value) in enumerate(zip(starts, seconds, strict=True)):
        ax.text(start + value, y, f" {value:.2f} s", va="center", fontsize=8)
    ax.axvline(target, color="red", linestyle="--", label=f"target {target:.0f} s")
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the server was added")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def machine(load_at_start: float) -> dict[str, Any]:
    """What the figures were measured on, and how busy it was (other work moves them)."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count() or 0,
        "platform": platform.platform(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": round(os.getloadavg()[0], 2),
    }
