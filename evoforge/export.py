"""`evoforge export RUN_DIR`: the run's LLM traces as JSONL, for fine-tuning or RL.

One line per proposal, in proposal order:

    {"id", "iteration", "island", "model", "edit_mode", "crossover", "instruction_id",
     "messages": [...chat messages as sent...], "reply": "...",
     "parent": {"id", "score", "metrics", "valid"}, "second_parent": {...} | null,
     "child": {"id", "score", "metrics", "valid", "failure_kind", "error"} | null,
     "improvement": child score - parent score, oriented so that > 0 is better (null without both scores),
     "improved": bool, "outcome": "evaluated" | "edit_failed" | "novelty_rejected" | ..., "error",
     "prompt_tokens", "completion_tokens", "cost", "objective", "direction"}

`messages` + `reply` is a supervised fine-tuning pair; `improvement` (or
`improved`) is the reward for RL or for filtering (``--improved-only``).
Reading is streamed in batches, so memory stays bounded for big runs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

from .cli import EXIT_OK, UsageError

_COLS = ("pr.id, pr.iteration, pr.island, pr.parent_id, pr.second_parent_id, pr.model, pr.edit_mode, "
         "pr.messages, pr.reply, pr.prompt_tokens, pr.completion_tokens, pr.outcome, pr.error, pr.program_id, "
         "pr.extra")


def _light(con, pid: int | None, cache: dict) -> dict | None:
    if pid is None:
        return None
    if pid not in cache:
        row = con.execute("SELECT id, score, metrics, valid, failure_kind, error FROM programs WHERE id = ?",
                          (pid,)).fetchone()
        if len(cache) > 10000:
            cache.clear()
        cache[pid] = None if row is None else {
            "id": row[0], "score": row[1], "metrics": json.loads(row[2] or "{}"), "valid": bool(row[3]),
            "failure_kind": row[4], "error": row[5]}
    return cache[pid]


def iter_traces(store, batch: int = 500) -> Iterator[dict[str, Any]]:
    con = store.con
    obj = store.meta_get("objective") or {}
    maximize = obj.get("direction", "maximize") == "maximize"
    cache: dict[int, dict | None] = {}
    last = 0
    while True:
        rows = con.execute(f"SELECT {_COLS} FROM proposals pr WHERE pr.id > ? ORDER BY pr.id LIMIT ?",
                           (last, batch)).fetchall()
        if not rows:
            return
        for r in rows:
            extra = json.loads(r[14] or "{}")
            parent = _light(con, r[3], cache)
            child = _light(con, r[13], cache)
            improvement = None
            if parent and child and parent["valid"] and child["valid"] and None not in (parent["score"], child["score"]):
                improvement = child["score"] - parent["score"]
                improvement = improvement if maximize else -improvement
            strip = lambda d: None if d is None else {k: d[k] for k in ("id", "score", "metrics", "valid")}  # noqa: E731
            yield {
                "id": r[0], "iteration": r[1], "island": r[2], "model": r[5], "edit_mode": r[6],
                "crossover": r[4] is not None, "instruction_id": extra.get("instruction_id"),
                "messages": json.loads(r[7] or "[]"), "reply": r[8],
                "parent": strip(parent), "second_parent": strip(_light(con, r[4], cache)), "child": child,
                "improvement": improvement, "improved": improvement is not None and improvement > 0,
                "outcome": r[11], "error": r[12], "prompt_tokens": r[9] or 0, "completion_tokens": r[10] or 0,
                "cost": float(extra.get("cost") or 0.0), "objective": obj.get("name"),
                "direction": obj.get("direction", "maximize"),
            }
        last = rows[-1][0]


def cmd_export(args) -> int:
    from .database.store import Store
    from .rundir import RunDir, RunDirError

    try:
        run_dir = RunDir(args.run_dir).require()
    except RunDirError as err:
        raise UsageError(str(err)) from None
    out_arg = args.out or str(run_dir.path / "traces.jsonl")
    n = 0
    with Store(run_dir.db_path, readonly=True) as store:
        if out_arg == "-":
            fh, close = sys.stdout, False
        else:
            path = Path(out_arg)
            if not path.parent.is_dir():
                raise UsageError(f"cannot write {path}: no directory {path.parent}")
            fh, close = path.open("w", encoding="utf-8"), True
        try:
            for rec in iter_traces(store):
                if args.improved_only and not rec["improved"]:
                    continue
                fh.write(json.dumps(rec, default=str) + "\n")
                n += 1
        finally:
            if close:
                fh.close()
    summary = {"out": out_arg, "records": n}
    if args.json and out_arg != "-":
        print(json.dumps(summary))
    else:
        print(f"evoforge: wrote {n} trace records to {out_arg}", file=sys.stderr)
    return EXIT_OK
