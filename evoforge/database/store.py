"""The SQLite store: every program and proposal, committed as it happens.

The store *is* the checkpoint.  The engine commits a proposal and the program
it produced in one transaction, so a run killed at any moment (even SIGKILL)
loses at most the iterations that were still in flight, which a resume simply
redoes.  WAL mode lets the dashboard and ``status`` read while a run writes.
Dicts and lists are stored as JSON text; the schema is documented in
docs/architecture.md.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

from . import summary as _summary

SCHEMA_VERSION = 1


class StoreError(RuntimeError):
    """The database is missing, locked, corrupt or from an incompatible version."""


@dataclass
class ProgramRecord:
    id: int | None
    parent_id: int | None
    second_parent_id: int | None
    island: int
    generation: int
    iteration: int
    code: str
    language: str
    valid: bool
    score: float | None
    metrics: dict = field(default_factory=dict)
    error: str | None = None
    failure_kind: str | None = None
    stdout: str = ""
    stderr: str = ""
    artifacts: dict = field(default_factory=dict)
    eval_time_s: float = 0.0
    flags: list = field(default_factory=list)
    features: dict = field(default_factory=dict)
    model: str | None = None
    created_at: float = field(default_factory=time.time)
    extra: dict = field(default_factory=dict)


@dataclass
class ProposalRecord:
    """One LLM request and what became of it (outcome: evaluated, edit_failed, llm_error, ...)."""

    id: int | None
    iteration: int
    island: int
    parent_id: int | None
    second_parent_id: int | None
    model: str | None
    edit_mode: str
    messages: list
    reply: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    outcome: str
    error: str | None
    program_id: int | None
    created_at: float = field(default_factory=time.time)
    extra: dict = field(default_factory=dict)


_JSON = {"metrics", "artifacts", "flags", "features", "extra", "messages"}
_PROGRAM_COLS = [f.name for f in fields(ProgramRecord)]
_PROPOSAL_COLS = [f.name for f in fields(ProposalRecord)]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS programs (
  id INTEGER PRIMARY KEY, parent_id INTEGER, second_parent_id INTEGER, island INTEGER NOT NULL,
  generation INTEGER NOT NULL, iteration INTEGER NOT NULL, code TEXT NOT NULL, language TEXT,
  valid INTEGER NOT NULL, score REAL, metrics TEXT, error TEXT, failure_kind TEXT, stdout TEXT,
  stderr TEXT, artifacts TEXT, eval_time_s REAL, flags TEXT, features TEXT, model TEXT,
  created_at REAL, extra TEXT);
CREATE TABLE IF NOT EXISTS proposals (
  id INTEGER PRIMARY KEY, iteration INTEGER NOT NULL, island INTEGER, parent_id INTEGER,
  second_parent_id INTEGER, model TEXT, edit_mode TEXT, messages TEXT, reply TEXT,
  prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL, outcome TEXT, error TEXT,
  program_id INTEGER, created_at REAL, extra TEXT);
CREATE INDEX IF NOT EXISTS programs_score ON programs (valid, score);
CREATE INDEX IF NOT EXISTS programs_island ON programs (island);
CREATE INDEX IF NOT EXISTS proposals_iteration ON proposals (iteration);
CREATE INDEX IF NOT EXISTS proposals_program ON proposals (program_id);
"""


def _dump(value: Any) -> str:
    return json.dumps(value, default=_fallback, allow_nan=True)


def _fallback(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


class Store:
    """One run's database.  Use from one thread for writing; readers open their own."""

    def __init__(self, path: Path | str, readonly: bool = False):
        self.path, self.readonly = Path(path), readonly
        if readonly and not self.path.exists():
            raise StoreError(f"no run database at {self.path}")
        try:
            if readonly:
                self.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30,
                                           check_same_thread=False, isolation_level=None)
            else:
                self.con = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                self.con.execute("PRAGMA journal_mode=WAL")
                self.con.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint; safe on crash
                self.con.executescript(_SCHEMA)
                if self.meta_get("schema_version") is None:
                    self.meta_set("schema_version", SCHEMA_VERSION)
                _summary.ensure(self.con)  # summary counters; computed once for an older database
            self.con.row_factory = sqlite3.Row
            version = self.meta_get("schema_version")
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open run database {self.path}: {err}") from None
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer evoforge (schema {version})")
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- meta ----------------------------------------------------------------------------
    def meta_get(self, key: str, default: Any = None) -> Any:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def meta_set(self, key: str, value: Any) -> None:
        self.con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET value = excluded.value", (key, _dump(value)))

    # -- writing -------------------------------------------------------------------------
    def _insert(self, table: str, cols: list[str], record: Any) -> int:
        data = asdict(record)
        values = [_dump(data[c]) if c in _JSON else data[c] for c in cols if c != "id"]
        names = [c for c in cols if c != "id"]
        cur = self.con.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                               values)
        return int(cur.lastrowid)

    def add_program(self, prog: ProgramRecord) -> int:
        with self._lock, self.con:
            self.con.execute("BEGIN")
            prog.id = self._insert("programs", _PROGRAM_COLS, prog)
        return prog.id

    def record_iteration(self, proposal: ProposalRecord, child: ProgramRecord | None) -> tuple[int, int | None]:
        """Commit a proposal and (if it produced one) its program, atomically."""
        with self._lock:
            try:
                self.con.execute("BEGIN IMMEDIATE")
                if child is not None:
                    child.id = self._insert("programs", _PROGRAM_COLS, child)
                    proposal.program_id = child.id
                proposal.id = self._insert("proposals", _PROPOSAL_COLS, proposal)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        return proposal.id, None if child is None else child.id

    # -- reading -------------------------------------------------------------------------
    @staticmethod
    def _program(row: sqlite3.Row) -> ProgramRecord:
        data = {c: row[c] for c in _PROGRAM_COLS}
        for c in _JSON & data.keys():
            data[c] = json.loads(data[c]) if data[c] else ({} if c not in ("flags",) else [])
        data["valid"] = bool(data["valid"])
        return ProgramRecord(**data)

    @staticmethod
    def _proposal(row: sqlite3.Row) -> ProposalRecord:
        data = {c: row[c] for c in _PROPOSAL_COLS}
        for c in _JSON & data.keys():
            data[c] = json.loads(data[c]) if data[c] else ([] if c == "messages" else {})
        return ProposalRecord(**data)

    def get_program(self, pid: int) -> ProgramRecord:
        row = self.con.execute("SELECT * FROM programs WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise KeyError(f"no program {pid}")
        return self._program(row)

    def iter_programs(self, valid_only: bool = False, batch: int = 2000) -> Iterator[ProgramRecord]:
        """All programs in id order, fetched in batches (bounded memory for big runs)."""
        last = 0
        where = "AND valid = 1" if valid_only else ""
        while True:
            rows = self.con.execute(f"SELECT * FROM programs WHERE id > ? {where} ORDER BY id LIMIT ?",
                                    (last, batch)).fetchall()
            if not rows:
                return
            for row in rows:
                yield self._program(row)
            last = rows[-1]["id"]

    def iter_light(self, batch: int = 5000) -> Iterator[ProgramRecord]:
        """Programs without code, output or artifacts: what the search state needs on resume."""
        last = 0
        while True:
            rows = self.con.execute("SELECT id, parent_id, island, generation, iteration, valid, score, metrics, "
                                    "features, model FROM programs WHERE id > ? ORDER BY id LIMIT ?",
                                    (last, batch)).fetchall()
            if not rows:
                return
            for r in rows:
                yield ProgramRecord(id=r["id"], parent_id=r["parent_id"], second_parent_id=None, island=r["island"],
                                    generation=r["generation"], iteration=r["iteration"], code="", language="",
                                    valid=bool(r["valid"]), score=r["score"], metrics=json.loads(r["metrics"] or "{}"),
                                    features=json.loads(r["features"] or "{}"), model=r["model"])
            last = rows[-1]["id"]

    def proposals_for(self, program_id: int) -> list[ProposalRecord]:
        rows = self.con.execute("SELECT * FROM proposals WHERE program_id = ?", (program_id,)).fetchall()
        return [self._proposal(r) for r in rows]

    def best_program(self, maximize: bool = True) -> ProgramRecord | None:
        order = "DESC" if maximize else "ASC"
        row = self.con.execute(f"SELECT * FROM programs WHERE valid = 1 AND score IS NOT NULL "
                               f"ORDER BY score {order}, id ASC LIMIT 1").fetchone()
        return None if row is None else self._program(row)

    def max_program_id(self) -> int | None:
        return self.con.execute("SELECT MAX(id) FROM programs").fetchone()[0]

    def max_iteration(self) -> int:
        """The highest iteration committed (0 when only the initial program is stored)."""
        a = self.con.execute("SELECT MAX(iteration) FROM proposals").fetchone()[0]
        b = self.con.execute("SELECT MAX(iteration) FROM programs").fetchone()[0]
        return max(a or 0, b or 0)

    def committed_iterations(self) -> set[int]:
        return {r[0] for r in self.con.execute("SELECT DISTINCT iteration FROM proposals")}

    def _maximize(self) -> bool:
        return (self.meta_get("objective") or {}).get("direction", "maximize") == "maximize"

    def summary(self) -> dict[str, Any]:
        """Programs, proposals, failures by kind, per-model calls/tokens/latency/cost/improvements.

        Read from the running counters the triggers keep (database/summary.py); a database
        without them (an older run opened read-only) is summarised from scratch, same answer."""
        if _summary.available(self.con):
            return _summary.from_counters(self.con, self._maximize())
        return _summary.recompute(self.con, self._maximize(), self.max_iteration())

    def outcome_counts(self) -> dict[str, Any] | None:
        """Novelty rejections, crossover proposals/improvements and per-instruction (uses, improvements)
        over every proposal, from the counters (None without them: iterate the proposals instead)."""
        return _summary.outcome_counts(self.con, self._maximize())
