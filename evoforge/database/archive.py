"""MAP-Elites archive: the best program in each cell of a feature grid.

Features are numbers (code length, score, any metric).  Each dimension's range
starts at the first values seen and widens when a value falls outside it; the
elites are then re-binned (cells can only merge), so the archive stays at most
``bins ** len(dims)`` entries whatever the run length.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

from .entry import Entry


class Archive:
    def __init__(self, dims: list[str], bins: int, better: Callable[[Entry, Entry], bool]):
        self.dims, self.bins, self.better = list(dims), bins, better
        self.ranges: list[tuple[float, float] | None] = [None] * len(dims)
        self.cells: dict[tuple[int, ...], Entry] = {}

    def _values(self, e: Entry) -> list[float] | None:
        vals = []
        for d in self.dims:
            v = e.feature(d)
            if v is None or not math.isfinite(v):
                return None
            vals.append(v)
        return vals

    def _widen(self, vals: list[float]) -> bool:
        changed = False
        for k, v in enumerate(vals):
            r = self.ranges[k]
            if r is None:
                self.ranges[k] = (v - 0.5, v + 0.5) if v == 0 else (v - abs(v) * 0.5, v + abs(v) * 0.5)
                changed = True
            elif not r[0] <= v <= r[1]:
                lo, hi = r
                span = hi - lo
                while v < lo:
                    lo -= span
                    span *= 2
                while v > hi:
                    hi += span
                    span *= 2
                self.ranges[k] = (lo, hi)
                changed = True
        return changed

    def cell(self, vals: list[float]) -> tuple[int, ...]:
        out = []
        for (lo, hi), v in zip(self.ranges, vals):  # type: ignore[misc]
            out.append(min(self.bins - 1, int((v - lo) / (hi - lo) * self.bins)))
        return tuple(out)

    def add(self, e: Entry) -> bool:
        """Place `e`; True if it became the elite of its cell."""
        vals = self._values(e)
        if vals is None:
            return False
        if self._widen(vals) and self.cells:
            self._rebin(list(self.cells.values()))
        key = self.cell(vals)
        cur = self.cells.get(key)
        if cur is None or self.better(e, cur):
            self.cells[key] = e
            return True
        return False

    def _rebin(self, elites: Iterable[Entry]) -> None:
        self.cells = {}
        for e in elites:
            key = self.cell(self._values(e))  # type: ignore[arg-type]
            cur = self.cells.get(key)
            if cur is None or self.better(e, cur):
                self.cells[key] = e

    def elites(self) -> list[Entry]:
        return [self.cells[k] for k in sorted(self.cells)]
