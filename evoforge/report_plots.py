"""PNG figures for the static report (matplotlib, Agg canvas, no pyplot state).

Each function takes the JSON-able dicts that ``evoforge.ui.data.RunData`` serves
to the dashboard, so the report and the live page always show the same numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
SOURCE_COLORS = {"evaluation": "#e03131", "edit": "#f08c00", "llm": "#7048e8"}
DPI = 150


def _figure(width: float = 7.0, height: float = 3.6) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, color="#e9ecef", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI)
    return path


def _steps(ax: Any, points: list[list], x_end: int, label: str, color: str) -> None:
    xs = [p[0] for p in points] + [max(x_end, points[-1][0])]
    ys = [p[1] for p in points] + [points[-1][1]]
    ax.step(xs, ys, where="post", label=label, color=color, linewidth=1.8)
    ax.plot(xs[:-1], ys[:-1], "o", color=color, markersize=2.5)


def best_over_time(series: dict[str, Any], path: Path) -> Path | None:
    if not series["overall"]:
        return None
    obj = series["objective"]
    fig, ax = _figure()
    for lo, hi, mn, mx, _n in series["band"]:
        ax.fill_between([lo, hi + 1], [mn, mn], [mx, mx], color=COLORS[0], alpha=0.18, linewidth=0, step="post")
    _steps(ax, series["overall"], series["last_iteration"], "best so far", COLORS[0])
    ax.fill_between([], [], [], color=COLORS[0], alpha=0.18, label="range of valid scores")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{obj['name']} ({obj['direction']})")
    ax.legend(loc="best", frameon=False)
    return _save(fig, path)


def best_by_group(groups: dict[str, list[list]], last_iteration: int, ylabel: str, label: str, path: Path) -> Path | None:
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return None
    fig, ax = _figure()
    for i, (name, pts) in enumerate(groups.items()):
        _steps(ax, pts, last_iteration, f"{label}{name}", COLORS[i % len(COLORS)])
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", frameon=False, fontsize=8, ncol=2 if len(groups) > 6 else 1)
    return _save(fig, path)


def failures(fail: dict[str, Any], path: Path) -> Path | None:
    bars = sorted(((f"{src}: {kind}", n, src) for src, kinds in fail["by_source"].items() for kind, n in kinds.items()),
                  key=lambda b: b[1])
    if not bars:
        return None
    fig, ax = _figure(7.0, max(1.6, 0.32 * len(bars) + 0.8))
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color=[SOURCE_COLORS.get(b[2], "#868e96") for b in bars])
    for i, b in enumerate(bars):
        ax.text(b[1], i, f" {b[1]}", va="center", fontsize=8)
    ax.set_xlabel("count")
    ax.grid(False, axis="y")
    return _save(fig, path)


def model_usage(models: dict[str, Any], path: Path) -> Path | None:
    rows = [m for m in models["models"] if m["calls"]]
    if not rows:
        return None
    fig = Figure(figsize=(7.0, max(1.8, 0.35 * len(rows) + 1.0)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    calls_ax, tok_ax = fig.subplots(1, 2, sharey=True)
    names = [m["name"] for m in rows]
    calls_ax.barh(names, [m["calls"] - m["failed_calls"] for m in rows], color=COLORS[0], label="answered")
    calls_ax.barh(names, [m["failed_calls"] for m in rows], left=[m["calls"] - m["failed_calls"] for m in rows],
                  color="#e03131", label="failed")
    calls_ax.set_xlabel("LLM calls")
    calls_ax.legend(frameon=False, fontsize=8)
    tok_ax.barh(names, [m["prompt_tokens"] for m in rows], color="#74c0fc", label="prompt")
    tok_ax.barh(names, [m["completion_tokens"] for m in rows], left=[m["prompt_tokens"] for m in rows],
                color="#1864ab", label="completion")
    tok_ax.set_xlabel("tokens")
    tok_ax.legend(frameon=False, fontsize=8)
    for ax in (calls_ax, tok_ax):
        ax.grid(True, axis="x", color="#e9ecef")
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return _save(fig, path)


def archive_grid(grid: dict[str, Any], maximize: bool, path: Path) -> Path | None:
    """MAP-Elites cells coloured by their best score (the dashboard's grid)."""
    if not grid.get("available") or not grid["cells"]:
        return None
    import numpy as np

    nx, ny = grid["bins"]
    z = np.full((ny, nx), np.nan)
    for c in grid["cells"]:
        z[c["y"], c["x"]] = c["score"]
    fig, ax = _figure(5.6, 4.4)
    ax.grid(False)
    (x0, x1), (y0, y1) = grid["ranges"][0], (grid["ranges"][1] if len(grid["ranges"]) > 1 else (0.0, 1.0))
    im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis" if maximize else "viridis_r",
                   extent=(x0, x1 if x1 > x0 else x0 + 1, y0, y1 if y1 > y0 else y0 + 1), interpolation="nearest")
    fig.colorbar(im, ax=ax, label="best score in cell")
    ax.set_xlabel(grid["dims"][0])
    ax.set_ylabel(grid["dims"][1] if len(grid["dims"]) > 1 else "")
    return _save(fig, path)


def pareto_front(front: dict[str, Any], path: Path) -> Path | None:
    """The first two objectives: every valid program drawn, the non-dominated ones in red."""
    if not front.get("available"):
        return None
    a, b = front["objectives"][:2]
    pts = front["points"]
    rest = [p["values"] for p in pts if not p["front"]]
    best = sorted(p["values"] for p in pts if p["front"])
    fig, ax = _figure(6.0, 4.2)
    if rest:
        ax.scatter([v[0] for v in rest], [v[1] for v in rest], s=6, color=COLORS[0], alpha=0.5, label="dominated")
    ax.plot([v[0] for v in best], [v[1] for v in best], "o-", color="#d62728", markersize=4, label="Pareto front")
    ax.set_xlabel(f"{a['name']} ({a['direction']})")
    ax.set_ylabel(f"{b['name']} ({b['direction']})")
    ax.legend(loc="best", frameon=False)
    return _save(fig, path)
