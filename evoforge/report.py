"""Static HTML report of a run: ``write_report(run_dir, out_dir) -> Path``.

One ``index.html`` plus PNG figures in ``out_dir``, readable offline, printable
and small enough to attach to a paper.  The database is opened read-only, so a
report can be written while the run is still going.
"""
from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Any

from . import report_plots as plots
from .ui.data import RunData

_CSS = """
body { font: 14px/1.5 "DejaVu Sans", system-ui, sans-serif; color: #1d2125; max-width: 960px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #dee2e6; }
.sub { color: #6b7280; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eef0f2; vertical-align: top; }
th { color: #495057; font-weight: 600; }
figure { margin: 12px 0; } figure img { max-width: 100%; } figcaption { color: #6b7280; font-size: 12px; }
pre { font: 12px/1.45 "DejaVu Sans Mono", monospace; background: #f8f9fa; border: 1px solid #e3e6ea; padding: 10px; overflow-x: auto; white-space: pre; }
.none { color: #6b7280; font-style: italic; }
@media print { pre { white-space: pre-wrap; } h2 { break-after: avoid; } figure { break-inside: avoid; } }
"""


def _e(value: Any) -> str:
    return html.escape("–" if value is None else str(value))


def _num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return _e(v)
    if isinstance(v, float) and not math.isfinite(v):
        return _e(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:.10g}"


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _figure(path: Path | None, caption: str, missing: str) -> str:
    if path is None:
        return f'<p class="none">{_e(missing)}</p>'
    return f'<figure><img src="{_e(path.name)}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _models_table(models: dict[str, Any]) -> str:
    if not models["models"]:
        return '<p class="none">No LLM calls.</p>'
    head = ["model", "calls", "failed", "programs", "valid", "best", "prompt tokens", "completion tokens", "mean latency", "cost"]
    body = []
    for m in models["models"]:
        cost = "no price set" if m["cost"] is None else f"${m['cost']:.4f}"
        latency = "–" if m["mean_latency_s"] is None else f"{m['mean_latency_s']:.2f} s"
        cells = [_e(m["name"]), _num(m["calls"]), _num(m["failed_calls"]), _num(m["programs"]), _num(m["valid"]),
                 _num(m["best_score"]), _num(m["prompt_tokens"]), _num(m["completion_tokens"]), latency, _e(cost)]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    total = "" if models["total_cost"] is None else f"<p>Total cost: ${models['total_cost']:.4f}</p>"
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body) + "</table>" + total)


def _failures_table(fail: dict[str, Any]) -> str:
    rows = [(src, kind, n) for src, kinds in fail["by_source"].items() for kind, n in kinds.items()]
    if not rows:
        return ""
    rows.sort(key=lambda r: -r[2])
    return ("<table><tr><th>stage</th><th>kind</th><th>count</th></tr>" +
            "".join(f"<tr><td>{_e(s)}</td><td>{_e(k)}</td><td>{_num(n)}</td></tr>" for s, k, n in rows) + "</table>")


def _top_table(data: RunData, n: int = 10) -> str:
    rows = data.programs(limit=n, status="valid")["rows"]
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("program", "score", "iteration", "generation", "island", "model", "parent"))
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in (
        _e(r["id"]), _num(r["score"]), _e(r["iteration"]), _e(r["generation"]), _e(r["island"]),
        _e(r["model"] or "(initial)"), _e(r["parent_id"]))) + "</tr>" for r in rows)
    return f"<h2>Top {len(rows)} programs</h2><table><tr>{head}</tr>{body}</table>"


def _best_section(data: RunData, summary: dict[str, Any]) -> str:
    best = summary["best"]
    if best is None:
        return '<h2>Best program</h2><p class="none">No valid program yet.</p>'
    detail = data.program(best["id"], with_diff=False)
    p = detail["program"]
    metrics = p.get("metrics") or {}
    rows = [("program", _e(p["id"])), ("score", _num(p.get("score"))), ("iteration", _e(p.get("iteration"))),
            ("generation", _e(p.get("generation"))), ("island", _e(p.get("island"))),
            ("model", _e(p.get("model") or "(initial program)"))]
    if p.get("flags"):
        rows.append(("flags", _e(", ".join(map(str, p["flags"])))))
    metric_rows = _table([(k, _num(metrics[k])) for k in sorted(metrics)]) if metrics else '<p class="none">No metrics.</p>'
    return (f"<h2>Best program</h2>{_table(rows)}<h3>Metrics</h3>{metric_rows}"
            f"<h3>Code</h3><pre>{_e(p.get('code') or '')}</pre>")


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write ``index.html`` and its PNG figures into ``out_dir`` (default
    ``RUN_DIR/report``) and return the path of ``index.html``."""
    data = RunData(run_dir)
    out = Path(out_dir) if out_dir is not None else data.run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = data.summary()
    series, fail, models, pareto = data.series(points=800), data.failures(), data.models(), data.pareto()
    obj = summary["objective"]
    ylabel = f"{obj['name']} ({obj['direction']})"
    figs = {
        "best": plots.best_over_time(series, out / "best_over_time.png"),
        "islands": plots.best_by_group(series["islands"], series["last_iteration"], ylabel, "island ",
                                       out / "best_per_island.png"),
        "models": plots.best_by_group(series["models"], series["last_iteration"], ylabel, "", out / "best_per_model.png"),
        "failures": plots.failures(fail, out / "failures.png"),
        "usage": plots.model_usage(models, out / "model_usage.png"),
        "archive": plots.archive_grid(data.archive(), data.maximize, out / "map_elites.png"),
        "pareto": plots.pareto_front(pareto, out / "pareto_front.png"),
    }
    for name, path in (("best", "best_over_time.png"), ("islands", "best_per_island.png"), ("models", "best_per_model.png"),
                       ("failures", "failures.png"), ("usage", "model_usage.png"), ("archive", "map_elites.png"),
                       ("pareto", "pareto_front.png")):
        if figs[name] is None:  # a figure left over from an earlier report would contradict this one
            (out / path).unlink(missing_ok=True)
    best = summary["best"]
    overview = _table([
        ("problem", _e(summary["problem"])), ("objective", _e(f"{obj['direction']} {obj['name']}")),
        ("programs", f"{_num(summary['n_programs'])} ({_num(summary['n_valid'])} valid, {_num(summary['n_failed'])} failed)"),
        ("LLM calls", _num(summary["n_proposals"])), ("last iteration", _num(summary["last_iteration"])),
        ("islands", _num(len(summary["islands"]))),
        ("best score", "none yet" if best is None else f"{_num(best['score'])} (program {best['id']}, iteration {best['iteration']})"),
        ("tokens", _num(summary["tokens"])),
        ("cost", "no prices configured" if summary["cost"] is None else f"${summary['cost']:.4f}"),
        ("sandbox", _e(summary["isolation"])), ("run directory", _e(summary["run_dir"])),
    ])
    config = data.config()["config"]
    title = f"evoforge run: {summary['problem_name'] or data.run_dir.name}"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class='sub'>Report written {_e(time.strftime('%Y-%m-%d %H:%M:%S'))} from {_e(data.run_dir)}</p>",
        "<h2>Summary</h2>", overview,
        "<h2>Best score over time</h2>",
        _figure(figs["best"], f"Best valid {obj['name']} so far by iteration; shaded: range of valid scores per iteration bucket.",
                "No valid program yet."),
        "<h2>Best score per island</h2>", _figure(figs["islands"], "Best valid score so far on each island.", "No valid program yet."),
        "<h2>Best score per LLM model</h2>",
        _figure(figs["models"], "Best valid score so far among the programs each model wrote.", "No program written by an LLM yet."),
        "<h2>Failures by kind</h2>", _figure(figs["failures"], "Failed evaluations, edits and LLM calls by kind.", "No failures."),
        _failures_table(fail),
        "<h2>LLM usage and cost</h2>", _figure(figs["usage"], "Calls and tokens per model.", "No LLM calls."), _models_table(models),
        "<h2>MAP-Elites grid</h2>",
        _figure(figs["archive"], "Best valid score in each cell of the first two archive dimensions.",
                "No valid program with archive features yet."),
        ("<h2>Pareto front</h2>" + _figure(figs["pareto"], "Valid programs on the first two objectives; red: non-dominated.",
                                           "No valid program reports every objective.")) if pareto.get("available") else "",
        _top_table(data),
        _best_section(data, summary),
        "<h2>Run configuration</h2>",
        f"<pre>{_e(json.dumps(config, indent=2, default=str))}</pre>" if config else '<p class="none">No configuration stored.</p>',
        "</body></html>",
    ]
    index = out / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    data.close()
    return index
