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
    nodes = [_node(data._light(i)) for i in keep]
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


def _node(light: dict[str, Any]) -> dict[str, Any]:
    """What the tree draws and its tooltip shows (kept small: up to 5,000 nodes are sent)."""
    return {k: light[k] for k in ("id", "parent_id", "island", "generation", "iteration", "valid", "score",
                                  "failure_kind", "model")}


def _dims(data: "RunData") -> tuple[list[str], int]:
    search = (data.index.meta.get("config") or {}).get("search") or {}
    dims = [d for d in (search.get("archive_dims") or []) if isinstance(d, str)]
    return dims, int(search.get("archive_bins") or 8)


def _feature(dim: str, score: float, metrics_json: Any, features_json: Any) -> float:
    """A program's value on one archive dimension, resolved as the engine does: a stored
    feature (``complexity``), the objective (``score``) or a metric of that name."""
    feats = loads(features_json, {})
    if isinstance(feats, dict) and _num(feats.get(dim)):
        return float(feats[dim])
    if dim == "score":
        return float(score)
    metrics = loads(metrics_json, {})
    v = metrics.get(dim) if isinstance(metrics, dict) else None
    return float(v) if _num(v) else math.nan


def _feature_rows(data: "RunData", dims: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ids, scores, values[n, len(dims)]`` of every valid program.  Each row's JSON is
    parsed once: new rows are appended to a cache, so a live run does not re-parse
    100,000 feature columns on every poll."""
    cache = getattr(data, "_archive_cache", None)
    if cache is None or cache["dims"] != dims:
        cache = data._archive_cache = {"dims": dims, "seen": 0, "ids": np.zeros(0, dtype=np.int64),
                                       "scores": np.zeros(0), "vals": np.zeros((0, len(dims)))}
    rows = data.index.programs
    new = [r for r in rows[cache["seen"]:] if r[5] and r[6] is not None]
    cache["seen"] = len(rows)
    if new:
        cache["ids"] = np.r_[cache["ids"], np.array([r[0] for r in new], dtype=np.int64)]
        cache["scores"] = np.r_[cache["scores"], np.array([float(r[6]) for r in new])]
        vals = np.array([[_feature(d, r[6], r[11], r[12]) for d in dims] for r in new], dtype=float)
        cache["vals"] = np.concatenate([cache["vals"], vals.reshape(len(new), len(dims))])
    return cache["ids"], cache["scores"], cache["vals"]


def archive(data: "RunData") -> dict[str, Any]:
    """Best program per cell of the first two configured MAP-Elites dimensions, binned over
    the range of values seen (the engine's own archive lives in memory; this is its view
    from the database)."""
    dims, bins = _dims(data)
    dims = (dims or ["complexity", "score"])[:2]
    ids, scores, vals = _feature_rows(data, dims)
    usable = [k for k in range(len(dims)) if np.isfinite(vals[:, k]).any()]
    if not ids.size or not usable:
        return {"available": False, "dims": dims,
                "reason": ("No valid program has values for the MAP-Elites dimensions "
                           f"{' × '.join(dims)} yet.") if ids.size else "No valid program yet."}
    names, vals = [dims[k] for k in usable], vals[:, usable]
    ok = np.all(np.isfinite(vals), axis=1)
    ids, scores, vals = ids[ok], scores[ok], vals[ok]
    ranges, cols = [], []
    for k in range(vals.shape[1]):
        lo, hi = float(vals[:, k].min()), float(vals[:, k].max())
        cols.append(np.minimum(bins - 1, ((vals[:, k] - lo) / (hi - lo) * bins).astype(np.int64)) if hi > lo
                    else np.zeros(ids.size, dtype=np.int64))
        ranges.append([lo, hi])
    x, y = cols[0], (cols[1] if len(cols) > 1 else np.zeros(ids.size, dtype=np.int64))
    key = x * bins + y
    fit = scores if data.maximize else -scores
    order = np.lexsort((ids, -fit, key))  # per cell: best first, earliest among equals
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
    counts = np.bincount(key, minlength=bins * bins)
    cells = [{"x": int(x[i]), "y": int(y[i]), "id": int(ids[i]), "score": float(scores[i]),
              "count": int(counts[key[i]])} for i in first]
    return {"available": True, "dims": names, "bins": [bins, bins if len(names) > 1 else 1],
            "ranges": ranges, "cells": cells, "n_programs": int(ids.size)}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def objectives(meta: dict[str, Any]) -> list[dict[str, str]]:
    """Objectives of a multi-objective run: the config's ``search.objectives``
    (``[{metric, direction}]``), or a meta ``objectives`` entry (list of names, of
    ``{name, direction}``, or a ``{name: direction}`` mapping)."""
    raw = meta.get("objectives")
    if not raw:
        raw = ((meta.get("config") or {}).get("search") or {}).get("objectives") if isinstance(meta.get("config"), dict) else None
    out: list[dict[str, str]] = []
    if isinstance(raw, dict):
        raw = [{"name": k, "direction": v} for k, v in raw.items()]
    for o in raw if isinstance(raw, list) else []:
        if isinstance(o, str):
            out.append({"name": o, "direction": "maximize"})
        elif isinstance(o, dict) and (o.get("name") or o.get("metric")):
            out.append({"name": str(o.get("name") or o.get("metric")),
                        "direction": "minimize" if o.get("direction") == "minimize" else "maximize"})
    return out


def pareto(data: "RunData", max_points: int = 3000) -> dict[str, Any]:
    objs = objectives(data.index.meta)
    if len(objs) < 2:
        return {"available": False, "reason": "This run has a single objective."}
    names = [o["name"] for o in objs]
    cache = getattr(data, "_pareto_cache", None)
    if cache is None or cache["names"] != names:
        cache = data._pareto_cache = {"names": names, "seen": 0, "ids": np.zeros(0, dtype=np.int64),
                                      "pts": np.zeros((0, len(names)))}
    rows = data.index.programs
    new = []
    for r in rows[cache["seen"]:]:  # values parsed once per program, not once per poll
        if r[5] and r[6] is not None:
            vals = [_feature(k, r[6], r[11], r[12]) for k in names]  # a metric, `score` or `complexity`
            if all(math.isfinite(v) for v in vals):
                new.append((r[0], vals))
    cache["seen"] = len(rows)
    if new:
        cache["ids"] = np.r_[cache["ids"], np.array([n[0] for n in new], dtype=np.int64)]
        cache["pts"] = np.concatenate([cache["pts"], np.array([n[1] for n in new], dtype=float)])
    ids, v = cache["ids"], cache["pts"]
    if not ids.size:
        return {"available": False, "reason": f"No valid program reports all of {', '.join(names)}."}
    signs = np.array([1.0 if o["direction"] == "maximize" else -1.0 for o in objs])
    front = non_dominated(v * signs)
    keep = np.flatnonzero(front)
    rest = np.flatnonzero(~front)
    if keep.size > max_points:
        keep = keep[np.linspace(0, keep.size - 1, max_points).astype(int)]
    if rest.size > max_points:  # an even sample of the dominated cloud is enough to see its shape
        rest = rest[np.linspace(0, rest.size - 1, max_points).astype(int)]
    chosen = np.r_[keep, rest]
    return {"available": True, "objectives": objs, "n_valid": int(ids.size), "n_front": int(front.sum()),
            "points": [{"id": int(ids[i]), "values": v[i].tolist(), "front": bool(front[i])} for i in chosen]}


def non_dominated(f: np.ndarray) -> np.ndarray:
    """Mask of rows not dominated by any other row (all columns maximized).

    Rows are visited in descending lexicographic order, so a row can only be dominated
    by rows before it, and it suffices to compare it with the front found so far (one
    vectorised comparison per row)."""
    n, k = f.shape
    order = np.lexsort(tuple(-f[:, c] for c in reversed(range(k))))
    mask = np.zeros(n, dtype=bool)
    if k == 2 and n:  # sweep: dominated iff a larger-x group reaches y, or its own group is higher
        x, y = f[order, 0], f[order, 1]
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        group = np.cumsum(np.r_[True, x[1:] != x[:-1]]) - 1
        top = y[starts]  # groups are sorted by y descending: the first y is the group's max
        before = np.r_[-np.inf, np.maximum.accumulate(top)[:-1]]
        mask[order] = ~((before[group] >= y) | (top[group] > y))
        return mask
    front = np.empty((min(n, 64), k))
    size = 0
    for i in order:
        row = f[i]
        if size:
            head = front[:size]
            if np.any(np.all(head >= row, axis=1) & np.any(head > row, axis=1)):
                continue
        if size == front.shape[0]:
            front = np.resize(front, (front.shape[0] * 2, k))
        front[size] = row
        size += 1
        mask[i] = True
    return mask
