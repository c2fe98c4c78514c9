"""Islands: independent sub-populations, each with its own MAP-Elites archive.

An island's population is bounded: when full, the least fit member leaves
(it stays in the store and in the archive if it is an elite there).  Migration
copies each island's best members to the next island in a ring, so good ideas
spread slowly and islands keep exploring different regions.
"""
from __future__ import annotations

from .archive import Archive
from .entry import Entry


def _better(a: Entry, b: Entry) -> bool:
    return (a.fitness, -a.id) > (b.fitness, -b.id)


class Island:
    def __init__(self, index: int, capacity: int, dims: list[str], bins: int):
        self.index, self.capacity = index, capacity
        self.members: dict[int, Entry] = {}
        self.hashes: dict[str, int] = {}
        self.archive = Archive(dims, bins, _better)
        self._ranked: list[Entry] | None = None

    def add(self, e: Entry) -> None:
        self.archive.add(e)
        if e.id in self.members:
            return
        if e.code_hash and e.code_hash in self.hashes:  # the same code again: keep the first copy only
            return
        self.members[e.id] = e
        if e.code_hash:
            self.hashes[e.code_hash] = e.id
        self._ranked = None
        if len(self.members) > self.capacity:
            worst = min(self.members.values(), key=lambda m: (m.fitness, -m.id))
            del self.members[worst.id]
            if worst.code_hash and self.hashes.get(worst.code_hash) == worst.id:
                del self.hashes[worst.code_hash]

    def ranked(self) -> list[Entry]:
        """Members best first (cached until the population changes)."""
        if self._ranked is None:
            self._ranked = sorted(self.members.values(), key=lambda m: (-m.fitness, m.id))
        return self._ranked

    def best(self) -> Entry | None:
        r = self.ranked()
        return r[0] if r else None


def migrate(islands: list[Island], count: int) -> int:
    """Copy each island's `count` best members to the next island; returns copies made."""
    if len(islands) < 2 or count <= 0:
        return 0
    moving = [isl.ranked()[:count] for isl in islands]
    n = 0
    for k, group in enumerate(moving):
        dest = islands[(k + 1) % len(islands)]
        for e in group:
            if e.id not in dest.members:
                dest.add(e)
                n += 1
    return n
