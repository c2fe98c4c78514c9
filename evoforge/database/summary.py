"""Running counters behind `Store.summary()` (what `evoforge status` shows), kept by SQLite triggers.

`summary()` used to scan whole tables (a JSON extraction over every proposal, a self-join
of ``programs``): seconds at 100,000 programs.  Instead, triggers on ``programs`` and
``proposals`` keep two small tables up to date *in the inserting transaction* (so
`record_iteration`, `add_program` and any other writer, older evoforge versions
included, keep them exact, and a rolled-back iteration leaves no trace):

- ``summary_counters (kind, key, n)``: programs / valid programs, invalid programs per
  ``failure_kind``, non-evaluated proposals per error prefix, proposals per outcome,
  crossover proposals and how many improved on their parent (both objective directions,
  chosen when read), per meta-prompt instruction the proposals using it and their
  improvements, and the highest iteration;
- ``summary_models (model, ...)``: per model the proposals' calls, tokens, latency and
  cost, and how many of its valid children beat their valid parent (both directions).

``meta.summary_counters`` says the counters are complete.  A database without it (created
before the counters existed, or one whose rows were updated or deleted, which the
stale-marking triggers notice) is summarised from scratch (`recompute`, the original
queries) when opened read-only, and migrated (`rebuild`: counters computed once from the
stored rows, in one transaction) the next time it is opened for writing.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

VERSION = 1
MARKER = "summary_counters"

# sign of a proposal's child score over its parent's: 1 / -1 / 0, NULL when either has no valid score
_SIGN = ("(SELECT CASE WHEN c.score - p.score > 0 THEN 1 WHEN c.score - p.score < 0 THEN -1 ELSE 0 END "
         "FROM programs c, programs p WHERE c.id = {pr}.program_id AND p.id = {pr}.parent_id AND c.valid AND p.valid "
         "AND c.score IS NOT NULL AND p.score IS NOT NULL)")
_ERROR_KEY = "COALESCE(substr({pr}.error, 1, instr({pr}.error || ':', ':') - 1), '')"
_COST = "COALESCE(CASE WHEN json_valid({pr}.extra) THEN json_extract({pr}.extra, '$.cost') END, 0)"
_INSTRUCTION = ("CASE WHEN {pr}.model IS NOT NULL AND json_valid({pr}.extra) AND "
                "json_type({pr}.extra, '$.instruction_id') = 'integer' "
                "THEN json_extract({pr}.extra, '$.instruction_id') END")
_ADD = "ON CONFLICT (kind, key) DO UPDATE SET n = n + excluded.n"


def _f(template: str, pr: str) -> str:
    return template.format(pr=pr)


TABLES = [
    "CREATE TABLE IF NOT EXISTS summary_counters (kind TEXT NOT NULL, key TEXT NOT NULL, n NOT NULL DEFAULT 0, "
    "PRIMARY KEY (kind, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS summary_models (model TEXT PRIMARY KEY, calls INTEGER NOT NULL DEFAULT 0, "
    "prompt_tokens NOT NULL DEFAULT 0, completion_tokens NOT NULL DEFAULT 0, latency_s NOT NULL DEFAULT 0, "
    "cost NOT NULL DEFAULT 0, improved_max INTEGER NOT NULL DEFAULT 0, improved_min INTEGER NOT NULL DEFAULT 0)",
]
_MAX_ITERATION = ("INSERT INTO summary_counters (kind, key, n) VALUES ('iteration', 'max', NEW.iteration) "
                  "ON CONFLICT (kind, key) DO UPDATE SET n = max(n, excluded.n);")
_IMPROVED = ("ON CONFLICT (model) DO UPDATE SET improved_max = improved_max + excluded.improved_max, "
             "improved_min = improved_min + excluded.improved_min")
_STALE = f"BEGIN DELETE FROM meta WHERE key = '{MARKER}'; END"

TRIGGERS = {
    "summary_program_added": f"""AFTER INSERT ON programs BEGIN
  INSERT INTO summary_counters (kind, key, n) VALUES ('programs', 'all', 1), ('programs', 'valid', NEW.valid) {_ADD};
  INSERT INTO summary_counters (kind, key, n) SELECT 'failure', COALESCE(NEW.failure_kind, ''), 1
    WHERE NEW.valid = 0 {_ADD};
  {_MAX_ITERATION}
  INSERT INTO summary_models (model, improved_max, improved_min)
    SELECT NEW.model, NEW.score > p.score, NEW.score < p.score FROM programs p
    WHERE p.id = NEW.parent_id AND NEW.valid = 1 AND p.valid = 1 AND NEW.model IS NOT NULL AND NEW.score != p.score
    {_IMPROVED};
END""",
    "summary_proposal_added": f"""AFTER INSERT ON proposals BEGIN
  INSERT INTO summary_counters (kind, key, n) VALUES ('proposals', 'all', 1), ('outcome', COALESCE(NEW.outcome, ''), 1)
    {_ADD};
  {_MAX_ITERATION}
  INSERT INTO summary_counters (kind, key, n) SELECT 'error', {_f(_ERROR_KEY, 'NEW')}, 1
    WHERE NEW.outcome != 'evaluated' {_ADD};
  INSERT INTO summary_models (model, calls, prompt_tokens, completion_tokens, latency_s, cost)
    SELECT NEW.model, 1, COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0),
           COALESCE(NEW.latency_s, 0), {_f(_COST, 'NEW')} WHERE NEW.model IS NOT NULL
    ON CONFLICT (model) DO UPDATE SET calls = calls + 1, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
      completion_tokens = completion_tokens + excluded.completion_tokens,
      latency_s = latency_s + excluded.latency_s, cost = cost + excluded.cost;
  INSERT INTO summary_counters (kind, key, n) SELECT 'crossover', 'proposals', 1
    WHERE NEW.second_parent_id IS NOT NULL {_ADD};
  INSERT INTO summary_counters (kind, key, n) SELECT 'crossover', CASE s WHEN 1 THEN 'up' ELSE 'down' END, 1
    FROM (SELECT {_f(_SIGN, 'NEW')} AS s) WHERE NEW.second_parent_id IS NOT NULL AND s IN (1, -1) {_ADD};
  INSERT INTO summary_counters (kind, key, n) SELECT 'instruction', i, 1
    FROM (SELECT {_f(_INSTRUCTION, 'NEW')} AS i) WHERE i IS NOT NULL {_ADD};
  INSERT INTO summary_counters (kind, key, n)
    SELECT CASE s WHEN 1 THEN 'instruction_up' ELSE 'instruction_down' END, i, 1
    FROM (SELECT {_f(_SIGN, 'NEW')} AS s, {_f(_INSTRUCTION, 'NEW')} AS i) WHERE i IS NOT NULL AND s IN (1, -1) {_ADD};
END""",
    # The counters only ever add: rows changed or removed afterwards (nothing in evoforge does) make
    # them stale, so the marker goes and the next writer rebuilds them (readers recompute meanwhile).
    "summary_stale_program_update": "AFTER UPDATE OF id, parent_id, valid, score, failure_kind, model, iteration "
                                    "ON programs " + _STALE,
    "summary_stale_program_delete": "AFTER DELETE ON programs " + _STALE,
    "summary_stale_proposal_update": "AFTER UPDATE OF id, iteration, parent_id, second_parent_id, model, "
                                     "prompt_tokens, completion_tokens, latency_s, outcome, error, program_id, extra "
                                     "ON proposals " + _STALE,
    "summary_stale_proposal_delete": "AFTER DELETE ON proposals " + _STALE,
}

# The same counters computed from the stored rows (the one-time migration of an existing database).
_REBUILD = [
    "DELETE FROM summary_counters",
    "DELETE FROM summary_models",
    "INSERT INTO summary_counters (kind, key, n) SELECT 'programs', 'all', COUNT(*) FROM programs "
    "UNION ALL SELECT 'programs', 'valid', COALESCE(SUM(valid), 0) FROM programs "
    "UNION ALL SELECT 'proposals', 'all', COUNT(*) FROM proposals",
    "INSERT INTO summary_counters (kind, key, n) SELECT 'failure', COALESCE(failure_kind, ''), COUNT(*) "
    "FROM programs WHERE valid = 0 GROUP BY 2",
    "INSERT INTO summary_counters (kind, key, n) SELECT 'iteration', 'max', m FROM (SELECT MAX(m) AS m FROM "
    "(SELECT MAX(iteration) AS m FROM programs UNION ALL SELECT MAX(iteration) FROM proposals)) WHERE m IS NOT NULL",
    "INSERT INTO summary_counters (kind, key, n) SELECT 'outcome', COALESCE(outcome, ''), COUNT(*) "
    "FROM proposals GROUP BY 2",
    f"INSERT INTO summary_counters (kind, key, n) SELECT 'error', {_f(_ERROR_KEY, 'pr')}, COUNT(*) "
    "FROM proposals pr WHERE outcome != 'evaluated' GROUP BY 2",
    f"INSERT INTO summary_models (model, calls, prompt_tokens, completion_tokens, latency_s, cost) "
    f"SELECT model, COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
    f"COALESCE(SUM(latency_s), 0), COALESCE(SUM({_f(_COST, 'pr')}), 0) FROM proposals pr "
    f"WHERE model IS NOT NULL GROUP BY model",
    "INSERT INTO summary_models (model, improved_max, improved_min) "
    "SELECT c.model, SUM(c.score > p.score), SUM(c.score < p.score) FROM programs c JOIN programs p "
    "ON c.parent_id = p.id WHERE c.valid = 1 AND p.valid = 1 AND c.model IS NOT NULL AND c.score != p.score "
    "GROUP BY c.model " + _IMPROVED,
    "INSERT INTO summary_counters (kind, key, n) SELECT 'crossover', 'proposals', COUNT(*) FROM proposals "
    "WHERE second_parent_id IS NOT NULL",
    f"INSERT INTO summary_counters (kind, key, n) SELECT 'crossover', CASE s WHEN 1 THEN 'up' ELSE 'down' END, "
    f"COUNT(*) FROM (SELECT {_f(_SIGN, 'pr')} AS s FROM proposals pr WHERE pr.second_parent_id IS NOT NULL) "
    f"WHERE s IN (1, -1) GROUP BY 2",
    f"INSERT INTO summary_counters (kind, key, n) SELECT 'instruction', i, COUNT(*) "
    f"FROM (SELECT {_f(_INSTRUCTION, 'pr')} AS i FROM proposals pr) WHERE i IS NOT NULL GROUP BY i",
    f"INSERT INTO summary_counters (kind, key, n) "
    f"SELECT CASE s WHEN 1 THEN 'instruction_up' ELSE 'instruction_down' END, i, COUNT(*) "
    f"FROM (SELECT {_f(_SIGN, 'pr')} AS s, i FROM (SELECT pr.*, {_f(_INSTRUCTION, 'pr')} AS i FROM proposals pr) pr "
    f"WHERE i IS NOT NULL) WHERE s IN (1, -1) GROUP BY 1, 2",
]


def _marker(con: sqlite3.Connection) -> Any:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (MARKER,)).fetchone()
    return None if row is None else json.loads(row[0])


def available(con: sqlite3.Connection) -> bool:
    """Are the counters complete (created by this version and not made stale since)?"""
    try:
        return _marker(con) == VERSION
    except sqlite3.OperationalError:  # no meta table: not an evoforge database yet
        return False


def ensure(con: sqlite3.Connection) -> None:
    """Writable connection (autocommit mode): create the counters and their triggers, and compute
    them from the stored rows if they are missing or stale, all in one transaction."""
    if available(con):
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        if _marker(con) != VERSION:  # another writer may have done it meanwhile
            for stmt in TABLES:
                con.execute(stmt)
            for name, body in TRIGGERS.items():
                con.execute(f"DROP TRIGGER IF EXISTS {name}")
                con.execute(f"CREATE TRIGGER {name} {body}")
            for stmt in _REBUILD:
                con.execute(stmt)
            con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                        "SET value = excluded.value", (MARKER, json.dumps(VERSION)))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _failures(program_kinds, proposal_errors) -> dict[str, int]:
    failures: dict[str, int] = {}
    for kind, n in program_kinds:
        failures[kind or "invalid"] = failures.get(kind or "invalid", 0) + n
    for error, n in proposal_errors:
        failures[error or "unknown"] = failures.get(error or "unknown", 0) + n
    return failures


def _model(calls, pt, ct, lat, cost) -> dict[str, Any]:
    return {"calls": calls, "prompt_tokens": pt or 0, "completion_tokens": ct or 0,
            "latency_s": round(lat or 0.0, 3), "cost": round(cost or 0.0, 6)}


def from_counters(con: sqlite3.Connection, maximize: bool) -> dict[str, Any]:
    """`Store.summary()` from the counters: a few dozen rows, whatever the size of the run."""
    rows = con.execute("SELECT kind, key, n FROM summary_counters").fetchall()  # (kind, key) order
    one = {(kind, key): n for kind, key, n in rows}
    failures = _failures([(k, n) for kind, k, n in rows if kind == "failure"],
                         [(k, n) for kind, k, n in rows if kind == "error"])
    models: dict[str, dict[str, Any]] = {}
    for name, calls, pt, ct, lat, cost, up, down in con.execute(
            "SELECT model, calls, prompt_tokens, completion_tokens, latency_s, cost, improved_max, improved_min "
            "FROM summary_models WHERE calls > 0 ORDER BY model"):
        models[name] = _model(calls, pt, ct, lat, cost)
        improved = up if maximize else down
        if improved:
            models[name]["improvements"] = improved
    return {"n_programs": one.get(("programs", "all"), 0), "n_valid": int(one.get(("programs", "valid"), 0)),
            "n_proposals": one.get(("proposals", "all"), 0), "failures": failures, "models": models,
            "last_iteration": one.get(("iteration", "max"), 0)}


def recompute(con: sqlite3.Connection, maximize: bool, last_iteration: int) -> dict[str, Any]:
    """`Store.summary()` from scratch: whole-table scans (databases without the counters)."""
    n_programs, n_valid = con.execute("SELECT COUNT(*), COALESCE(SUM(valid), 0) FROM programs").fetchone()
    failures = _failures(con.execute("SELECT failure_kind, COUNT(*) FROM programs WHERE valid = 0 "
                                     "GROUP BY failure_kind").fetchall(),
                         con.execute("SELECT substr(error, 1, instr(error || ':', ':') - 1), COUNT(*) "
                                     "FROM proposals WHERE outcome != 'evaluated' GROUP BY 1").fetchall())
    models: dict[str, dict[str, Any]] = {}
    for name, calls, pt, ct, lat, cost in con.execute(
            "SELECT model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(latency_s), "
            "SUM(COALESCE(json_extract(extra, '$.cost'), 0)) "
            "FROM proposals WHERE model IS NOT NULL GROUP BY model"):
        models[name] = _model(calls, pt, ct, lat, cost)
    for name, improved in con.execute(
            "SELECT c.model, COUNT(*) FROM programs c JOIN programs p ON c.parent_id = p.id "
            "WHERE c.valid = 1 AND p.valid = 1 AND c.model IS NOT NULL AND "
            "((c.score > p.score) = (? = 1)) AND c.score != p.score GROUP BY c.model", (1 if maximize else 0,)):
        if name in models:
            models[name]["improvements"] = improved
    n_proposals = con.execute("SELECT COUNT(*) FROM proposals").fetchone()[0]
    return {"n_programs": n_programs, "n_valid": int(n_valid), "n_proposals": n_proposals,
            "failures": failures, "models": models, "last_iteration": last_iteration}


def outcome_counts(con: sqlite3.Connection, maximize: bool) -> dict[str, Any] | None:
    """What `evoforge status` counts over every proposal (strategies.status_extras), from the
    counters: novelty rejections, crossover proposals and improvements, and per meta-prompt
    instruction id (proposals with a model) its (uses, improvements).  None without counters."""
    if not available(con):
        return None
    up = "up" if maximize else "down"
    one: dict[tuple[str, str], Any] = {}
    instructions: dict[int, list[int]] = {}
    for kind, key, n in con.execute("SELECT kind, key, n FROM summary_counters WHERE kind IN "
                                    "('outcome', 'crossover', 'instruction', 'instruction_up', 'instruction_down')"):
        if kind == "instruction":
            instructions.setdefault(int(key), [0, 0])[0] = n
        elif kind == f"instruction_{up}":
            instructions.setdefault(int(key), [0, 0])[1] = n
        else:
            one[(kind, key)] = n
    return {"novelty_rejected": one.get(("outcome", "novelty_rejected"), 0),
            "crossover": {"proposals": one.get(("crossover", "proposals"), 0),
                          "improved": one.get(("crossover", up), 0)},
            "instructions": {k: (v[0], v[1]) for k, v in instructions.items()}}
