"""Server-side aggregation: best-so-far series, score bands, lineage trimming,
MAP-Elites grid and Pareto front.  Pure functions over the index arrays, so a
large run sends the browser hundreds of points, never every program."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .db import loads

if TYPE_CHECKING:
    from .data import RunData


def best_so_far(it: np.ndarray, score: np.ndarray, fit: np.ndarray, ids: np.ndarray, points: int) -> list[list]:
    """Improvement points ``[iteration, score, program id]`` of the running best.

    Ordered by iteration (evaluations finish out of order).  The series is a step
    function, so when there are more improvements than ``points`` we keep the last
    one in each of ``points`` equal iteration buckets: the curve keeps its shape
    and its final value exactly.
    """
    if it.size == 0:
        return []
    order = np.lexsort((ids, it))
    it, score, fit, ids = it[order], score[order], fit[order], ids[order]
    run = np.maximum.accumulate(fit)
    keep = np.ones(it.size, dtype=bool)
    keep[1:] = run[1:] > run[:-1]
    idx = np.flatnonzero(keep)
    if idx.size > points:
        lo, hi = it[idx[0]], it[idx[-1]]
        bucket = np.minimum(points - 1, ((it[idx] - lo) * points // max(1, hi - lo + 1)).astype(np.int64))
        last_of_bucket = np.flatnonzero(np.r_[bucket[1:] != bucket[:-1], True])
        idx = np.r_[idx[0], idx[last_of_bucket]] if last_of_bucket[0] != 0 else idx[last_of_bucket]
    return [[int(it[i]), float(score[i]), int(ids[i])] for i in idx]


def band(it: np.ndarray, score: np.ndarray, bins: int) -> list[list]:
    """``[iter_lo, iter_hi, min, max, n]`` of valid scores per iteration bucket."""
    if it.size == 0:
        return []
    lo, hi = int(it.min()), int(it.max())
    width = max(1, math.ceil((hi - lo + 1) / bins))
    b = (it - lo) // width
    order = np.argsort(b, kind="stable")
    b, s = b[order], score[order]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    mins, maxs = np.minimum.reduceat(s, starts), np.maximum.reduceat(s, starts)
    counts = np.diff(np.r_[starts, b.size])
    return [[int(lo + b[k] * width), int(lo + (b[k] + 1) * width - 1), float(mn), float(mx), int(n)]
            for k, mn, mx, n in zip(starts, mins, maxs, counts)]


def lineage(data: "RunData", top: int, max_nodes: int) -> dict[str, Any]:
    """The whole tree for small runs; otherwise the ancestors of the ``top`` best
    programs (and of the best), with every hidden child counted in a group per parent."""
    idx = data.index
    a = data.arrays()
    n = a["id"].size
    best = data._best_pos()
    best_id = None if best is None else int(a["id"][best])
    if n <= max_nodes:
        keep = list(range(n))
        mode = "full"
    else:
        mode = "top"
        ranked = np.lexsort((a["id"], -a["fit"]))
        chosen: set[int] = set()
        roots = [i for i in range(n) if idx.programs[i][1] is None][:64]  # the seeds, one per island
        chosen.update(roots)
        for i in ranked[:top]:
            if not a["valid"][i]:
                break
            chain = []
            j: int | None = int(i)
            while j is not None and j not in chosen:  # walk up until we meet a kept node
                chain.append(j)
                parent = idx.programs[j][1]
                j = idx.pos.get(parent) if parent is not None else None
            if len(chosen) + len(chain) > max_nodes and len(chosen) > len(roots):
                break
            chosen.update(chain)
        keep = sorted(chosen)
    nodes = [data._light(i) for i in keep]
    groups = []
    if mode == "top":
        kept_ids = {nd["id"] for nd in nodes}
        sign = 1.0 if data.maximize else -1.0
        for nd in nodes:
            hidden = [c for c in idx.children.get(nd["id"], []) if c not in kept_ids]
            if not hidden:
                continue
            rows = [idx.programs[idx.pos[c]] for c in hidden]
            scores = [r[6] for r in rows if r[5] and r[6] is not None]
            groups.append({"parent_id": nd["id"], "count": len(hidden), "n_failed": len(rows) - len(scores),
                           "best_score": max(scores, key=lambda s: sign * s) if scores else None})
    shown = [nd["score"] for nd in nodes if nd["valid"]]
    return {"mode": mode, "top": top, "total": int(n), "nodes": nodes, "groups": groups, "best_id": best_id,
            "score_range": [min(shown), max(shown)] if shown else [0.0, 1.0], "direction": data.objective["direction"]}


def _dims(data: "RunData") -> tuple[list[str], int]:
    search = (data.index.meta.get("config") or {}).get("search") or {}
    dims = [d for d in (search.get("archive_dims") or []) if isinstance(d, str)]
    return dims, int(search.get("archive_bins") or 8)


def archive(data: "RunData") -> dict[str, Any]:
    """Best program per cell of the first two feature dimensions stored with the programs."""
    dims, bins = _dims(data)
    rows = data.index.programs
    feats = [(r, loads(r[12], {})) for r in rows if r[5] and r[6] is not None]
    feats = [(r, f) for r, f in feats if isinstance(f, dict) and f]
    if not feats:
        wanted = " × ".join(dims) if dims else "the configured dimensions"
        return {"available": False, "dims": dims,
                "reason": f"No program in this run has stored MAP-Elites features, so the grid over {wanted} "
                          "cannot be drawn from the database (the engine keeps its archive in memory and "
                          "rebuilds it on resume)."}
    names = [d for d in dims if any(d in f for _, f in feats)] or sorted({k for _, f in feats for k in f})
    names = names[:2]
    cols = [np.array([float(f.get(d, np.nan)) if _num(f.get(d)) else np.nan for _, f in feats]) for d in names]
    nb = []
    binned = []
    for c in cols:
        ok = np.isfinite(c)
        integral = ok.any() and np.all(c[ok] == np.round(c[ok])) and c[ok].min() >= 0 and c[ok].max() < max(bins, 2) * 4
        if integral:  # already bin indices
            k = int(max(bins, c[ok].max() + 1))
            binned.append(np.where(ok, c, -1).astype(int))
        else:  # raw values: bin them over the observed range
            k = bins
            lo, hi = (c[ok].min(), c[ok].max()) if ok.any() else (0.0, 1.0)
            width = (hi - lo) / k if hi > lo else 1.0
            binned.append(np.where(ok, np.minimum(k - 1, ((c - lo) / width).astype(int, copy=False) if hi > lo else 0), -1))
        nb.append(k)
    sign = 1.0 if data.maximize else -1.0
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for i, (r, _) in enumerate(feats):
        x = int(binned[0][i])
        y = int(binned[1][i]) if len(binned) > 1 else 0
        if x < 0 or y < 0:
            continue
        c = cells.get((x, y))
        if c is None:
            cells[(x, y)] = {"x": x, "y": y, "id": r[0], "score": r[6], "count": 1}
        else:
            c["count"] += 1
            if sign * r[6] > sign * c["score"]:
                c["id"], c["score"] = r[0], r[6]
    return {"available": True, "dims": names, "bins": nb if len(nb) > 1 else nb + [1], "cells": list(cells.values()),
            "n_programs": len(feats)}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def objectives(meta: dict[str, Any]) -> list[dict[str, str]]:
    """Objectives of a multi-objective run, from meta ``objectives`` (list of names,
    of ``{name, direction}``, or a ``{name: direction}`` mapping)."""
    raw = meta.get("objectives")
    out: list[dict[str, str]] = []
    if isinstance(raw, dict):
        raw = [{"name": k, "direction": v} for k, v in raw.items()]
    for o in raw or []:
        if isinstance(o, str):
            out.append({"name": o, "direction": "maximize"})
        elif isinstance(o, dict) and o.get("name"):
            out.append({"name": str(o["name"]), "direction": "minimize" if o.get("direction") == "minimize" else "maximize"})
    return out


def pareto(data: "RunData", max_points: int = 3000) -> dict[str, Any]:
    objs = objectives(data.index.meta)
    if len(objs) < 2:
        return {"available": False, "reason": "This run has a single objective."}
    names = [o["name"] for o in objs]
    pts, ids = [], []
    for r in data.index.programs:
        if not (r[5] and r[6] is not None):
            continue
        m = loads(r[11], {})
        vals = [m.get(k) for k in names] if isinstance(m, dict) else []
        if vals and all(_num(v) for v in vals):
            pts.append(vals)
            ids.append(r[0])
    if not pts:
        return {"available": False, "reason": f"No valid program reports all of {', '.join(names)}."}
    v = np.array(pts, dtype=float)
    signs = np.array([1.0 if o["direction"] == "maximize" else -1.0 for o in objs])
    front = non_dominated(v * signs)
    keep = np.flatnonzero(front)
    rest = np.flatnonzero(~front)
    if rest.size > max_points:  # an even sample of the dominated cloud is enough to see its shape
        rest = rest[np.linspace(0, rest.size - 1, max_points).astype(int)]
    chosen = np.r_[keep, rest]
    return {"available": True, "objectives": objs, "n_valid": len(ids),
            "points": [{"id": ids[i], "values": v[i].tolist(), "front": bool(front[i])} for i in chosen]}


def non_dominated(f: np.ndarray) -> np.ndarray:
    """Mask of rows not dominated by any other row (all columns maximized)."""
    n = f.shape[0]
    order = np.lexsort(tuple(-f[:, k] for k in reversed(range(f.shape[1]))))  # descending lexicographic
    mask = np.zeros(n, dtype=bool)
    front: list[int] = []
    for i in order:  # a row can only be dominated by rows sorted before it
        row = f[i]
        dominated = False
        for j in front:
            if np.all(f[j] >= row) and np.any(f[j] > row):
                dominated = True
                break
        if not dominated:
            front.append(i)
            mask[i] = True
    return mask
