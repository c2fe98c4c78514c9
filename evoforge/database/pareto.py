"""Multi-objective search: a bounded Pareto archive and selection from it.

With ``search.objectives`` set, every island keeps the programs no other
program on it dominates (at least as good on every objective, strictly better
on one).  The archive is bounded (``search.pareto_size``): when it overflows,
the member with the smallest crowding distance (NSGA-II: the one whose
neighbours on the front are closest, i.e. the least informative) leaves, so
the front keeps its extremes and stays spread out.  A program with a missing
or non-finite objective value is never on the front; equal objective vectors
keep the first program only.

`pareto_select` turns a share ``search.pareto_ratio`` of the usual selections
into "parent drawn uniformly from the island's front" (the usual parent
becomes an inspiration).  It draws from the iteration's random stream only
when objectives are configured, so single-objective runs are unchanged.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from .entry import Entry
from .selection import Selection

Objective = tuple[str, bool]  # (metric, maximize)


def objectives_of(specs: Iterable) -> list[Objective]:
    """[(metric, maximize)] from `ObjectiveSpec`s or dicts with metric/direction."""
    out = []
    for s in specs:
        metric = s["metric"] if isinstance(s, dict) else s.metric
        direction = (s.get("direction", "maximize") if isinstance(s, dict) else s.direction)
        out.append((metric, direction == "maximize"))
    return out


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """`a` is at least as good everywhere and better somewhere (vectors oriented: larger is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def vector(e: Entry, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    out = []
    for metric, maximize in objectives:
        v = e.feature(metric)
        if v is None or not math.isfinite(v):
            return None
        out.append(v if maximize else -v)
    return tuple(out)


def crowding(vectors: dict[int, tuple[float, ...]]) -> dict[int, float]:
    """NSGA-II crowding distance of each front member (inf for the extremes of any objective)."""
    dist = {k: 0.0 for k in vectors}
    if len(vectors) <= 2:
        return {k: math.inf for k in vectors}
    n_obj = len(next(iter(vectors.values())))
    for j in range(n_obj):
        order = sorted(vectors, key=lambda k: (vectors[k][j], k))
        lo, hi = vectors[order[0]][j], vectors[order[-1]][j]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo:
            continue
        for a, k, b in zip(order, order[1:], order[2:]):
            dist[k] += (vectors[b][j] - vectors[a][j]) / (hi - lo)
    return dist


@dataclass
class _Member:
    entry: Entry
    vec: tuple[float, ...]


class ParetoArchive:
    """The non-dominated programs among those added, at most `capacity` (None: unbounded)."""

    def __init__(self, objectives: Sequence[Objective], capacity: int | None = None):
        if not objectives:
            raise ValueError("a Pareto archive needs at least one objective")
        self.objectives, self.capacity = list(objectives), capacity
        self._members: dict[int, _Member] = {}

    def __len__(self) -> int:
        return len(self._members)

    def add(self, e: Entry) -> bool:
        """Offer `e`; True if it is on the front afterwards."""
        vec = vector(e, self.objectives)
        if vec is None or e.id in self._members:
            return False
        for m in self._members.values():
            if m.vec == vec or dominates(m.vec, vec):
                return False
        for k in [k for k, m in self._members.items() if dominates(vec, m.vec)]:
            del self._members[k]
        self._members[e.id] = _Member(e, vec)
        if self.capacity is not None and len(self._members) > self.capacity:
            dist = crowding({k: m.vec for k, m in self._members.items()})
            worst = min(self._members, key=lambda k: (dist[k], -k))  # most crowded; the newest on ties
            del self._members[worst]
        return e.id in self._members

    def entries(self) -> list[Entry]:
        return [self._members[k].entry for k in sorted(self._members)]

    def crowding(self) -> dict[int, float]:
        return crowding({k: m.vec for k, m in self._members.items()})


def front_of(entries: Iterable[Entry], objectives: Sequence[Objective]) -> list[Entry]:
    """The exact (unbounded) Pareto front of `entries`."""
    archive = ParetoArchive(objectives)
    for e in entries:
        archive.add(e)
    return archive.entries()


def pareto_select(rng: random.Random, archive: ParetoArchive, sel: Selection, ratio: float) -> Selection:
    """With probability `ratio`, replace the parent by a uniformly drawn front member."""
    if rng.random() >= ratio:
        return sel
    front = archive.entries()
    if not front:
        return sel
    parent = rng.choice(front)
    if parent.id == sel.parent_id:
        return Selection(sel.parent_id, sel.inspiration_ids, "pareto")
    insp = [i for i in sel.inspiration_ids if i != parent.id]
    if len(insp) < len(sel.inspiration_ids):
        insp.append(sel.parent_id)
    elif insp:
        insp[-1] = sel.parent_id
    return Selection(parent.id, insp, "pareto")
