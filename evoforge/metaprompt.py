"""Meta-prompt evolution: the instruction given to the LLM co-evolves with the programs.

A small population of instruction variants lives in the run database (table
``instructions``, created idempotently, so older runs gain it on resume).  Each
proposal uses one active variant, chosen by Thompson sampling on a Beta(1 + s,
1 + f) posterior, where s and f count the variant's children that did / did not
improve on their parent (a failed edit, an invalid child or a rejected
duplicate counts as not improved).  The variant's id is stored in the proposal's
and the program's ``extra["instruction_id"]``, so the statistics are rebuilt
from the stored proposals on resume.

Every ``propose_interval`` iterations the LLM is shown the variants with their
success rates and asked for a new one; when ``max_variants`` are active the
worst variant tried at least ``min_trials`` times is retired (kept in the
table, marked inactive) to make room.
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: `evoforge status` need not import pydantic
    from .config import MetaPromptConfig

log = logging.getLogger("evoforge.metaprompt")

DEFAULT_SEEDS = [
    "",  # the plain prompt: no extra guidance
    "Make one small, careful change that is likely to improve the score; keep everything else as it is.",
    "Try a substantially different idea or algorithm rather than tuning what is there.",
    "Look at what the best inspirations do differently from the current program and adopt the most useful idea.",
    "Tune the numeric parameters and thresholds: the structure may be right while the constants are not.",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS instructions (
  id INTEGER PRIMARY KEY, text TEXT NOT NULL, origin TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
  iteration INTEGER, model TEXT, prompt_tokens INTEGER DEFAULT 0, completion_tokens INTEGER DEFAULT 0,
  cost REAL DEFAULT 0, messages TEXT, reply TEXT, created_at REAL, retired_at_iteration INTEGER);
"""

MAX_CHARS = 600
_TAG = re.compile(r"<instruction>(.*?)</instruction>", re.S | re.I)
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


@dataclass
class Variant:
    id: int
    text: str
    origin: str
    active: bool = True
    successes: int = 0
    failures: int = 0

    @property
    def trials(self) -> int:
        return self.successes + self.failures

    @property
    def mean(self) -> float:
        return (1 + self.successes) / (2 + self.trials)


def table_exists(con) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instructions'").fetchone() is not None


def load_variants(con) -> dict[int, Variant]:
    if not table_exists(con):
        return {}
    rows = con.execute("SELECT id, text, origin, active FROM instructions WHERE origin != 'rejected' "
                       "ORDER BY id").fetchall()
    return {r[0]: Variant(id=r[0], text=r[1], origin=r[2], active=bool(r[3])) for r in rows}


def parse_reply(text: str) -> str | None:
    """The instruction in an LLM reply (inside <instruction> tags, else a code fence, else all of it)."""
    m = _TAG.search(text) or _FENCE.search(text)
    body = (m.group(1) if m else text).strip().strip('"').strip()
    body = " ".join(body.split())
    if not body or "EVOLVE-BLOCK" in body:
        return None
    return body[:MAX_CHARS]


class MetaPrompt:
    def __init__(self, config: MetaPromptConfig, store, *, description: str, objective: str, direction: str):
        self.config, self.store = config, store
        self.description, self.objective, self.direction = description, objective, direction
        self.variants: dict[int, Variant] = {}

    # -- state -------------------------------------------------------------------------------
    def restore(self) -> None:
        """Create the table (idempotent), add the seed variants once, load everything."""
        con = self.store.con
        con.executescript(SCHEMA)
        if con.execute("SELECT COUNT(*) FROM instructions").fetchone()[0] == 0:
            seeds = self.config.seed_instructions or DEFAULT_SEEDS
            for text in dict.fromkeys(" ".join(t.split()) for t in seeds):
                self._insert(text, "seed")
        self.variants = load_variants(con)

    def _insert(self, text: str, origin: str, **fields) -> int:
        cols = {"text": text, "origin": origin, "created_at": time.time(), **fields}
        cur = self.store.con.execute(f"INSERT INTO instructions ({', '.join(cols)}) VALUES "
                                     f"({', '.join('?' * len(cols))})", list(cols.values()))
        return int(cur.lastrowid)

    def observe(self, instruction_id: int | None, improved: bool) -> None:
        v = self.variants.get(instruction_id) if instruction_id is not None else None
        if v is None:
            return
        if improved:
            v.successes += 1
        else:
            v.failures += 1

    def active(self) -> list[Variant]:
        return [v for v in self.variants.values() if v.active]

    def choose(self, rng: random.Random) -> Variant | None:
        """Thompson sampling over the active variants."""
        active = self.active()
        if not active:
            return None
        return max(active, key=lambda v: (rng.betavariate(1 + v.successes, 1 + v.failures), -v.id))

    # -- new variants --------------------------------------------------------------------------
    def due(self, iteration: int) -> bool:
        k = self.config.propose_interval
        return k > 0 and iteration > 0 and iteration % k == 0 and self._retiree() is not False

    def _retiree(self) -> Variant | None | bool:
        """None: there is room; a Variant: the one to retire; False: full and nothing may be retired yet."""
        active = self.active()
        if len(active) < self.config.max_variants:
            return None
        tried = [v for v in active if v.trials >= self.config.min_trials]
        if not tried:
            return False
        return min(tried, key=lambda v: (v.mean, v.trials, -v.id))

    def proposal_messages(self) -> list[dict[str, str]]:
        goal = "maximise" if self.direction == "maximize" else "minimise"
        ranked = sorted(self.active(), key=lambda v: (-v.mean, v.id))
        lines = []
        for v in ranked:
            rate = f"{v.successes}/{v.trials} children improved" if v.trials else "not tried yet"
            lines.append(f"- ({rate}) {v.text or '(no extra guidance)'}")
        user = "\n\n".join(filter(None, [
            "# Problem\n" + self.description.strip() if self.description.strip() else "",
            f"# Objective\nThe programs are scored automatically; the goal is to {goal} `{self.objective}`.",
            "# Instructions tried so far\nEach proposal shows the programmer one of these instructions. "
            "Success rate = share of its proposals whose program scored better than the program it started "
            "from. Best first:\n" + "\n".join(lines),
            "# Task\nWrite one new instruction (one to three sentences) for the programmer that is likely to "
            "lead to more improvements than these. Build on what worked, avoid what did not, and be specific "
            "to this problem. Reply with the instruction only, between <instruction> and </instruction>.",
        ]))
        return [{"role": "system", "content": "You write short, concrete guidance for a programmer model that "
                                              "improves a program by evolution."},
                {"role": "user", "content": user}]

    def add_from_reply(self, reply, messages: list, iteration: int, cost: float) -> Variant | None:
        """Store the variant in `reply` (a Completion); retire the worst when full.  None if unusable."""
        text = parse_reply(reply.text)
        known = {v.text.casefold() for v in self.variants.values()}
        record = dict(iteration=iteration, model=reply.model, prompt_tokens=reply.prompt_tokens,
                      completion_tokens=reply.completion_tokens, cost=cost, messages=json.dumps(messages),
                      reply=reply.text)
        if text is None or text.casefold() in known:
            # still recorded (inactive), so its tokens and cost are accounted for
            self._insert(text or "", "rejected", active=0, **record)
            log.info("meta-prompt: unusable or duplicate instruction from %s", reply.model)
            return None
        retiree = self._retiree()
        if isinstance(retiree, Variant):
            retiree.active = False
            self.store.con.execute("UPDATE instructions SET active = 0, retired_at_iteration = ? WHERE id = ?",
                                   (iteration, retiree.id))
        vid = self._insert(text, "llm", **record)
        v = Variant(id=vid, text=text, origin="llm")
        self.variants[vid] = v
        log.info("meta-prompt: new instruction %d from %s%s", vid, reply.model,
                 f" (retired {retiree.id})" if isinstance(retiree, Variant) else "")
        return v


def usage(con) -> dict[str, dict]:
    """Per model: calls, tokens and cost of the meta-prompt requests (for status and budgets)."""
    if not table_exists(con):
        return {}
    out = {}
    for model, calls, pt, ct, cost in con.execute(
            "SELECT model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost) FROM instructions "
            "WHERE model IS NOT NULL GROUP BY model"):
        out[model] = {"calls": calls, "prompt_tokens": pt or 0, "completion_tokens": ct or 0, "cost": cost or 0.0}
    return out


def summary(con, variants: dict[int, Variant]) -> list[dict]:
    return [{"id": v.id, "text": v.text, "origin": v.origin, "active": v.active, "uses": v.trials,
             "improved": v.successes, "success_rate": round(v.successes / v.trials, 4) if v.trials else None}
            for v in sorted(variants.values(), key=lambda v: v.id)]
