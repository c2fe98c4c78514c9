"""The rubric judge's cache and spend in the run database (table ``judge_cache``).

One row per distinct graded text (``failed = 0``): its grading, how many requests it
took, their tokens and their cost.  A grading that failed (no valid reply after
``judge.max_attempts``, or the endpoint went away) leaves a row with ``failed = 1`` and
no grading, so its tokens and cost still count toward the run's budgets after a resume.
Older runs' tables gain the ``cost`` and ``failed`` columns on the next writable open.
"""
from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

_SCHEMA = """CREATE TABLE IF NOT EXISTS judge_cache (
  key TEXT PRIMARY KEY, model TEXT NOT NULL, scores TEXT NOT NULL, rationale TEXT, manipulation TEXT NOT NULL,
  attempts INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, hits INTEGER NOT NULL DEFAULT 0,
  created_at REAL, cost REAL, failed INTEGER NOT NULL DEFAULT 0)"""
_ADDED = (("cost", "REAL"), ("failed", "INTEGER NOT NULL DEFAULT 0"))  # columns newer than the first schema

Prices = dict[str, tuple[float, float]]  # model -> (price per million prompt tokens, per million completion tokens)


def _columns(con: sqlite3.Connection) -> set[str]:
    return {r[1] for r in con.execute("PRAGMA table_info(judge_cache)")}


class JudgeCache:
    """Gradings by content key, in the run database (one row per distinct graded text)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con
        con.execute(_SCHEMA)
        have = _columns(con)
        for name, decl in _ADDED:
            if name not in have:
                con.execute(f"ALTER TABLE judge_cache ADD COLUMN {name} {decl}")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.con.execute("SELECT scores, rationale, manipulation FROM judge_cache WHERE key = ? AND failed = 0",
                               (key,)).fetchone()
        if row is None:
            return None
        self.con.execute("UPDATE judge_cache SET hits = hits + 1 WHERE key = ?", (key,))
        return {"scores": json.loads(row[0]), "rationale": row[1] or "", "manipulation": row[2] or ""}

    def put(self, key: str, model: str, scores: dict[str, float], rationale: str, manipulation: str,
            attempts: int, prompt_tokens: int, completion_tokens: int, cost: float = 0.0) -> None:
        self.con.execute("INSERT OR REPLACE INTO judge_cache (key, model, scores, rationale, manipulation, attempts, "
                         "prompt_tokens, completion_tokens, hits, created_at, cost, failed) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0)",
                         (key, model, json.dumps(scores), rationale, manipulation, attempts, prompt_tokens,
                          completion_tokens, time.time(), cost))

    def put_failed(self, key: str, model: str, attempts: int, prompt_tokens: int, completion_tokens: int,
                   cost: float, reason: str) -> None:
        """The spend of a grading that gave nothing (the key is unique per failure; never a cache hit)."""
        self.con.execute("INSERT OR REPLACE INTO judge_cache (key, model, scores, rationale, manipulation, attempts, "
                         "prompt_tokens, completion_tokens, hits, created_at, cost, failed) "
                         "VALUES (?, ?, '{}', ?, '', ?, ?, ?, 0, ?, ?, 1)",
                         (f"failed:{key}:{time.time_ns()}", model, reason[:500], attempts, prompt_tokens,
                          completion_tokens, time.time(), cost))


def judge_summary(con: sqlite3.Connection, prices: Prices | None = None) -> dict[str, Any] | None:
    """What `status` shows: gradings, requests, cache hits, tokens and cost, in total and per judge model
    (None if the run never judged).  Rows written before costs were recorded are priced with `prices`."""
    try:
        have = _columns(con)
        if not have:
            return None
        failed = "failed" if "failed" in have else "0"
        cost = "cost" if "cost" in have else "NULL"
        rows = con.execute(
            f"SELECT model, COALESCE(SUM({failed} = 0), 0), COALESCE(SUM({failed} != 0), 0), "
            "COALESCE(SUM(attempts), 0), COALESCE(SUM(hits), 0), COALESCE(SUM(prompt_tokens), 0), "
            f"COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(manipulation != ''), 0), "
            f"COALESCE(SUM({cost}), 0), "
            f"COALESCE(SUM(CASE WHEN {cost} IS NULL THEN prompt_tokens ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN {cost} IS NULL THEN completion_tokens ELSE 0 END), 0) "
            "FROM judge_cache GROUP BY model ORDER BY model").fetchall()
    except sqlite3.OperationalError:  # no such table: the run has no rubric
        return None
    by_model: dict[str, dict[str, Any]] = {}
    for model, ok, bad, attempts, hits, pt, ct, manip, recorded, pt0, ct0 in rows:
        pin, pout = (prices or {}).get(model, (0.0, 0.0))
        by_model[model] = {"gradings": ok, "failed_gradings": bad, "requests": attempts, "cache_hits": hits,
                           "prompt_tokens": pt, "completion_tokens": ct, "manipulation_reported": manip,
                           "cost": round(recorded + (pt0 * pin + ct0 * pout) / 1e6, 9)}
    total = {k: sum(m[k] for m in by_model.values()) for k in
             ("gradings", "failed_gradings", "requests", "cache_hits", "prompt_tokens", "completion_tokens",
              "manipulation_reported")}
    total["cost"] = round(sum(m["cost"] for m in by_model.values()), 9)
    total["tokens"] = total["prompt_tokens"] + total["completion_tokens"]
    return {**total, "models": sorted(by_model), "by_model": by_model}


def judge_prices_of(config: dict[str, Any] | None) -> Prices:
    """Prices of the judge's calls per model, from a stored run configuration: the `llm.models[]` entry
    of the same name, overridden by `judge.price_*_per_mtok` for the judge model when those are set."""
    config = config or {}
    out: Prices = {}
    for m in (config.get("llm") or {}).get("models") or []:
        if isinstance(m, dict) and m.get("name") and m["name"] not in out:
            out[m["name"]] = (float(m.get("price_in_per_mtok") or 0.0), float(m.get("price_out_per_mtok") or 0.0))
    j = config.get("judge") or {}
    if j.get("price_in_per_mtok") is not None or j.get("price_out_per_mtok") is not None:
        name = j.get("model") or next(iter(out), None)
        if name:
            pin, pout = out.get(name, (0.0, 0.0))
            out[name] = (float(j["price_in_per_mtok"]) if j.get("price_in_per_mtok") is not None else pin,
                         float(j["price_out_per_mtok"]) if j.get("price_out_per_mtok") is not None else pout)
    return out
