"""`evoforge best RUN --front` and the `status` lines of the rubric judge and multi-objective search."""
from __future__ import annotations

import json
import sys
from typing import Any

from .cli import EXIT_FAILED, EXIT_OK, UsageError
from .database.entry import Entry
from .database.pareto import Objective, front_of, objectives_of


def stored_objectives(store) -> list[Objective]:
    """The run's `search.objectives` as (metric, maximize) pairs (empty: single objective)."""
    config = store.meta_get("config") or {}
    return objectives_of((config.get("search") or {}).get("objectives") or [])


def _entries(store, maximize: bool):
    for p in store.iter_light():
        if p.valid and p.score is not None:
            feats = p.features or {}
            yield Entry(id=p.id, island=p.island, iteration=p.iteration, score=p.score,
                        fitness=p.score if maximize else -p.score, metrics=p.metrics,
                        complexity=int(feats.get("complexity", 0)), code_hash=str(feats.get("hash", "")))


def front(store, objectives: list[Objective], maximize: bool) -> tuple[list[Entry], int]:
    """(the exact Pareto front over all valid programs, the number of valid programs)."""
    seen: set[str] = set()
    n = 0

    def unique():  # the initial program is stored once per island; show it once
        nonlocal n
        for e in _entries(store, maximize):
            n += 1
            if e.code_hash and e.code_hash in seen:
                continue
            seen.add(e.code_hash)
            yield e

    members = front_of(unique(), objectives)
    metric, maxi = objectives[0]
    members.sort(key=lambda e: ((-1 if maxi else 1) * (e.feature(metric) or 0.0), e.id))
    return members, n


def cmd_best_front(args) -> int:
    from .cli_inspect import _direction, _open

    _, store = _open(args.run_dir)
    with store:
        objectives = stored_objectives(store)
        if not objectives:
            raise UsageError("this run has no search.objectives, so no Pareto front: configure "
                             "`search: {objectives: [{metric: ..., direction: ...}, ...]}` (docs/features.md)")
        members, n_valid = front(store, objectives, _direction(store))
        progs = [store.get_program(e.id) for e in members]
    obj_out = [{"metric": m, "direction": "maximize" if mx else "minimize"} for m, mx in objectives]
    if args.json:
        print(json.dumps({"objectives": obj_out, "n_valid": n_valid, "front": [
            {"id": p.id, "iteration": p.iteration, "generation": p.generation, "island": p.island, "score": p.score,
             "values": {m: e.feature(m) for m, _ in objectives}, "metrics": p.metrics, "flags": p.flags,
             "model": p.model, "code": p.code} for e, p in zip(members, progs)]}, default=str))
        return EXIT_OK if members else EXIT_FAILED
    if not members:
        print("no valid program has every objective metric yet", file=sys.stderr)
        return EXIT_FAILED
    names = [m for m, _ in objectives]
    print(f"# Pareto front: {len(members)} of {n_valid} valid programs, over "
          + ", ".join(f"{m} ({'max' if mx else 'min'})" for m, mx in objectives))
    widths = [max(len(n), 12) for n in names]
    print(f"{'id':>6} {'iter':>6}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, widths)) + "  flags")
    for e, p in zip(members, progs):
        vals = "  ".join(f"{e.feature(n):>{w}.6g}" for n, w in zip(names, widths))
        print(f"{p.id:>6} {p.iteration:>6}  {vals}  {','.join(p.flags) or '-'}")
    return EXIT_OK


def feature_status(store, maximize: bool) -> dict[str, Any]:
    """Extra `status` keys: `judge` (gradings, requests, cache hits, tokens) and `pareto` (front size)."""
    from .judge_cache import judge_prices_of, judge_summary

    out: dict[str, Any] = {}
    judge = judge_summary(store.con, judge_prices_of(store.meta_get("config")))
    if judge is not None:
        out["judge"] = judge
        out["judge"]["flagged_programs"] = store.con.execute(
            "SELECT COUNT(*) FROM programs WHERE flags LIKE '%judge_injection%'").fetchone()[0]
    objectives = stored_objectives(store)
    if objectives:
        members, _ = front(store, objectives, maximize)
        out["pareto"] = {"objectives": [{"metric": m, "direction": "maximize" if mx else "minimize"}
                                        for m, mx in objectives], "front_size": len(members),
                         "front_ids": [e.id for e in members]}
    return out


def feature_status_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    j = summary.get("judge")
    if j:
        from .strategies import _money

        lines.append(f"judge     {', '.join(j['models']) or '-'}: {j['gradings']} gradings, {j['requests']} requests, "
                     f"{j['cache_hits']} cache hits, {j['prompt_tokens']} prompt + {j['completion_tokens']} completion "
                     f"tokens, cost {_money(j.get('cost', 0.0))}, "
                     f"{j['flagged_programs']} programs flagged for text addressed to the judge")
        for name, m in (j.get("by_model") or {}).items() if len(j.get("by_model") or {}) > 1 else ():
            lines.append(f"judge     {name}: {m['gradings']} gradings, {m['requests']} requests, "
                         f"{m['prompt_tokens']} prompt + {m['completion_tokens']} completion tokens, "
                         f"cost {_money(m['cost'])}")
    p = summary.get("pareto")
    if p:
        objs = ", ".join(f"{o['metric']} ({o['direction'][:3]})" for o in p["objectives"])
        lines.append(f"pareto    front of {p['front_size']} programs over {objs} (evoforge best RUN --front)")
    return lines
