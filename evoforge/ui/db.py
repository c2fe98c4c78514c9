"""Read-only access to a run database, with an incremental in-memory index.

The engine writes ``evoforge.db`` while the dashboard reads it, so every query
here is short and runs on its own read-only connection (``mode=ro``) in autocommit
mode: no read transaction stays open to hold back WAL checkpoints.

Programs and proposals are append-only with increasing ids, so the light columns
the views aggregate over (score, island, model, …) are fetched once, in chunks,
with ``id > last_seen``; aggregates are then computed from memory and never
re-scan the table, whose rows also carry code, prompts and replies.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

CHUNK = 20000  # rows per incremental query: each stays well under a second
MIN_REFRESH_S = 0.5  # several API calls of one page load share one refresh

# Columns the index keeps per program / proposal (light ones only: no code, no prompts).
PROGRAM_COLS = ("id", "parent_id", "island", "generation", "iteration", "valid", "score", "failure_kind",
                "model", "created_at", "eval_time_s")
PROPOSAL_COLS = ("id", "iteration", "model", "prompt_tokens", "completion_tokens", "latency_s", "outcome",
                 "error", "program_id", "created_at")  # + the priced cost the engine records in extra.cost


def extra_usage(con: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """LLM calls that are not proposals, per model: meta-prompt requests (table ``instructions``)
    and rubric-judge requests (table ``judge_cache``, one row per grading with its request count).
    Each: calls, tokens, the cost the engine recorded, and the tokens of rows without a recorded
    cost (judge rows of older runs) to be priced from the config.  Missing tables or columns read
    as nothing (a run without these features, or an older schema)."""
    def cols(table: str) -> set[str]:
        return {r[1] for r in con.execute(f"PRAGMA table_info({table})")}

    out: dict[str, dict[str, Any]] = {}

    def add(kind: str, rows: list[tuple]) -> None:
        for model, calls, pt, ct, cost, pt0, ct0 in rows:
            m = out.setdefault(model, {"meta_prompt_calls": 0, "judge_calls": 0, "prompt_tokens": 0,
                                       "completion_tokens": 0, "recorded_cost": 0.0, "unpriced_prompt_tokens": 0,
                                       "unpriced_completion_tokens": 0})
            m[kind] += calls or 0
            m["prompt_tokens"] += pt or 0
            m["completion_tokens"] += ct or 0
            m["recorded_cost"] += cost or 0.0
            m["unpriced_prompt_tokens"] += pt0 or 0
            m["unpriced_completion_tokens"] += ct0 or 0

    have = cols("instructions")
    if {"model", "prompt_tokens", "completion_tokens"} <= have:
        cost = "cost" if "cost" in have else "0"
        add("meta_prompt_calls", con.execute(
            f"SELECT model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM({cost}), 0, 0 "
            "FROM instructions WHERE model IS NOT NULL GROUP BY model").fetchall())
    have = cols("judge_cache")
    if {"model", "attempts", "prompt_tokens", "completion_tokens"} <= have:
        cost = "cost" if "cost" in have else "NULL"
        add("judge_calls", con.execute(
            f"SELECT model, SUM(attempts), SUM(prompt_tokens), SUM(completion_tokens), SUM({cost}), "
            f"SUM(CASE WHEN {cost} IS NULL THEN prompt_tokens END), "
            f"SUM(CASE WHEN {cost} IS NULL THEN completion_tokens END) FROM judge_cache GROUP BY model").fetchall())
    return out


class RunDataError(RuntimeError):
    """The run database cannot be read (missing, not yet created, corrupt)."""


class NotFound(LookupError):
    pass


def loads(text: Any, default: Any) -> Any:
    if text is None or text == "":
        return default
    if not isinstance(text, (str, bytes)):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return default


def error_kind(error: str | None, fallback: str) -> str:
    """Proposal errors are stored as ``"kind: detail"``; the kind is what we count."""
    if not error:
        return fallback
    head = error.split(":", 1)[0].strip()
    return head if head and " " not in head and len(head) <= 40 else fallback


class RunIndex:
    """Light columns of every program and proposal, appended incrementally."""

    def __init__(self, db_path: Path):
        self.db_path = Path(db_path)
        self._lock = threading.Lock()
        self._last_refresh = 0.0
        self.programs: list[tuple] = []  # PROGRAM_COLS + (metrics_json, features_json, code_len)
        self.pos: dict[int, int] = {}  # program id -> index in self.programs
        self.children: dict[int, list[int]] = {}
        self.proposals: list[tuple] = []  # PROPOSAL_COLS
        self.proposal_of: dict[int, int] = {}  # program id -> proposal id
        self.meta: dict[str, Any] = {}
        self.version: tuple[int, int] = (0, 0)
        self._prog_cols: tuple[str, ...] = ()
        self._prop_cols: tuple[str, ...] = ()

    # -- connections -------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        if not self.db_path.is_file():
            raise RunDataError(f"{self.db_path} does not exist (yet): is this an evoforge run directory?")
        try:
            con = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0,
                                  isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise RunDataError(f"cannot open {self.db_path} read-only: {err}") from None
        try:
            con.execute("PRAGMA query_only = 1")
            yield con
        except sqlite3.OperationalError as err:
            raise RunDataError(f"reading {self.db_path} failed: {err}") from None
        except sqlite3.DatabaseError as err:
            raise RunDataError(f"{self.db_path} is not a readable evoforge database: {err}") from None
        finally:
            con.close()

    def _columns(self, con: sqlite3.Connection, table: str) -> tuple[str, ...]:
        return tuple(r[1] for r in con.execute(f"PRAGMA table_info({table})"))

    # -- refresh -------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_refresh < MIN_REFRESH_S:
                return
            with self.connect() as con:
                if not self._prog_cols:
                    self._prog_cols = self._columns(con, "programs")
                    self._prop_cols = self._columns(con, "proposals")
                    if "id" not in self._prog_cols:
                        raise RunDataError(f"{self.db_path} has no programs table: the run has not started yet")
                self._load_meta(con)
                self._load_programs(con)
                self._load_proposals(con)
            self.version = (self.programs[-1][0] if self.programs else 0,
                            self.proposals[-1][0] if self.proposals else 0)
            self._last_refresh = time.monotonic()

    def _select(self, wanted: tuple[str, ...], have: tuple[str, ...]) -> str:
        # A column a future schema drops reads as NULL instead of breaking the dashboard.
        return ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)

    def _load_meta(self, con: sqlite3.Connection) -> None:
        meta: dict[str, Any] = {}
        for key, value in con.execute("SELECT key, value FROM meta"):
            meta[key] = loads(value, value)
        self.meta = meta

    def _load_programs(self, con: sqlite3.Connection) -> None:
        extra = (("metrics", "features", "length(code) AS code_len"))
        cols = self._select(PROGRAM_COLS, self._prog_cols) + ", " + ", ".join(
            e if e.split()[0].replace("length(code)", "code") in self._prog_cols else f"NULL AS {e.split()[-1]}"
            for e in extra)
        while True:
            last = self.programs[-1][0] if self.programs else -1
            rows = con.execute(f"SELECT {cols} FROM programs WHERE id > ? ORDER BY id LIMIT ?", (last, CHUNK)).fetchall()
            for r in rows:
                self.pos[r[0]] = len(self.programs)
                self.programs.append(r)
                if r[1] is not None:
                    self.children.setdefault(r[1], []).append(r[0])
            if len(rows) < CHUNK:
                break

    def _load_proposals(self, con: sqlite3.Connection) -> None:
        cols = self._select(PROPOSAL_COLS, self._prop_cols) + ", " + self._cost_expr(con)
        while True:
            last = self.proposals[-1][0] if self.proposals else -1
            rows = con.execute(f"SELECT {cols} FROM proposals WHERE id > ? ORDER BY id LIMIT ?", (last, CHUNK)).fetchall()
            for r in rows:
                self.proposals.append(r)
                if r[8] is not None:
                    self.proposal_of[r[8]] = r[0]
            if len(rows) < CHUNK:
                break

    def _cost_expr(self, con: sqlite3.Connection) -> str:
        if "extra" not in self._prop_cols:
            return "NULL AS cost"
        try:  # JSON functions are built into SQLite >= 3.38 and usually compiled in before
            con.execute("SELECT json_extract('{}', '$.cost')").fetchone()
        except sqlite3.OperationalError:
            return "NULL AS cost"
        return "CASE WHEN json_valid(extra) THEN json_extract(extra, '$.cost') END AS cost"

    # -- single rows -----------------------------------------------------------------
    def program_row(self, pid: int) -> dict[str, Any]:
        with self.connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM programs WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise NotFound(f"no program with id {pid}")
        return dict(row)

    def proposal_row(self, pid: int) -> dict[str, Any] | None:
        """The proposal (LLM call) that produced program ``pid``, if any."""
        prop_id = self.proposal_of.get(pid)
        with self.connect() as con:
            con.row_factory = sqlite3.Row
            if prop_id is not None:
                row = con.execute("SELECT * FROM proposals WHERE id = ?", (prop_id,)).fetchone()
            elif self._has_index(con, "proposals", "program_id"):  # written after we indexed it
                row = con.execute("SELECT * FROM proposals WHERE program_id = ? LIMIT 1", (pid,)).fetchone()
            else:
                row = None
        return dict(row) if row is not None else None

    def _has_index(self, con: sqlite3.Connection, table: str, column: str) -> bool:
        for idx in con.execute(f"PRAGMA index_list({table})").fetchall():
            cols = [r[2] for r in con.execute(f"PRAGMA index_info({idx[1]})")]
            if cols and cols[0] == column:
                return True
        return False
