"""The program database: the SQLite store plus the in-memory search state.

`ProgramDatabase` holds islands (bounded populations with MAP-Elites archives)
and answers "which parent and inspirations next?".  It keeps only light
entries (no code) and is rebuilt from the store on resume, so nothing here
needs checkpointing.
"""
from __future__ import annotations

import hashlib
import logging
import random
from typing import TYPE_CHECKING

from .entry import Entry
from .islands import Island, migrate
from .pareto import ParetoArchive, objectives_of, pareto_select
from .selection import Selection, sample
from .store import ProgramRecord

if TYPE_CHECKING:  # not at run time: `evoforge status` need not import pydantic
    from ..config import SearchConfig

log = logging.getLogger("evoforge.database")

__all__ = ["ProgramDatabase", "Selection", "Entry", "features_of"]


def features_of(code: str) -> dict:
    """Features stored with every program (used by the archive and dedup)."""
    return {"complexity": len(code), "hash": hashlib.sha1(code.encode()).hexdigest()[:16]}


class ProgramDatabase:
    def __init__(self, config: SearchConfig, maximize: bool = True):
        self.config, self.maximize = config, maximize
        self.islands = [Island(k, config.population_per_island, config.archive_dims, config.archive_bins)
                        for k in range(config.num_islands)]
        self._migrated_at = 0
        self.fronts = self._new_fronts()  # multi-objective (pareto.py); None without search.objectives

    def _entry(self, prog: ProgramRecord) -> Entry | None:
        if not prog.valid or prog.score is None:
            return None
        feats = prog.features or {}
        return Entry(id=prog.id, island=prog.island % len(self.islands), iteration=prog.iteration,
                     score=prog.score, fitness=prog.score if self.maximize else -prog.score,
                     metrics=prog.metrics, complexity=int(feats.get("complexity", len(prog.code or ""))),
                     code_hash=str(feats.get("hash", "")))

    def add(self, prog: ProgramRecord) -> None:
        e = self._entry(prog)
        if e is not None:
            self.islands[e.island].add(e)
            if self.fronts is not None:
                self.fronts[e.island].add(e)

    def rebuild(self, store) -> None:
        """Replay every stored program (and the migrations between them) in iteration order."""
        for k in range(len(self.islands)):
            c = self.config
            self.islands[k] = Island(k, c.population_per_island, c.archive_dims, c.archive_bins)
        self._migrated_at = 0
        self.fronts = self._new_fronts()
        progs = sorted(store.iter_light(), key=lambda p: (p.iteration, p.id))
        for prog in progs:
            self.maybe_migrate(prog.iteration)
            self.add(prog)
        log.info("search state rebuilt from %d programs", len(progs))

    def maybe_migrate(self, iteration: int) -> None:
        interval = self.config.migration_interval
        due = iteration // interval * interval
        if due > self._migrated_at and due > 0:
            self._migrated_at = due
            n = migrate(self.islands, self.config.migration_count)
            if n:
                log.debug("migration at iteration %d: %d programs copied", due, n)

    def next_island(self, iteration: int) -> int:
        """Islands take turns; an empty island borrows from the best one."""
        return iteration % len(self.islands)

    def sample(self, rng: random.Random, island: int) -> Selection:
        isl = self.islands[island]
        if not isl.members:  # every program on it failed so far: seed it from the best island
            donor = max((i for i in self.islands if i.members), key=lambda i: i.best().fitness, default=None)
            if donor is None:
                raise LookupError("no valid program in the database")
            isl.add(donor.best())
        c = self.config
        sel = sample(rng, isl, c.exploitation_ratio, c.exploration_ratio, c.num_inspirations,
                     c.exploitation_pressure)
        if self.fronts is not None:
            sel = pareto_select(rng, self.fronts[island], sel, c.pareto_ratio)
        return sel

    def _new_fronts(self) -> list[ParetoArchive] | None:
        objectives = objectives_of(getattr(self.config, "objectives", None) or [])
        if not objectives:
            return None
        return [ParetoArchive(objectives, self.config.pareto_size) for _ in self.islands]

    def best(self) -> Entry | None:
        bests = [i.best() for i in self.islands if i.members]
        return max(bests, key=lambda e: (e.fitness, -e.id), default=None)
