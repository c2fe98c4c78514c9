"""Online bin packing as in FunSearch, simulated in the trusted scorer process.

FunSearch (Romera-Paredes et al., Nature 2024) packs the items of an instance
one at a time, in the given order.  Before the first item one bin per item is
allocated, every bin at full capacity.  For each item the priority function is
called as ``priority(item, bins)``, where ``bins`` holds the remaining
capacities of the bins that can take the item, in bin-index order; the item
goes into the bin with the highest priority (the first one on ties, as
``np.argmax``).  A bin counts as used once it holds an item.

``unused_bins`` controls how many of the still-unused bins (all at full
capacity) are shown to the priority function:

* ``None``: all of them - exactly FunSearch.  The calls then carry O(n) numbers
  each, O(n^2) per instance.
* ``k``: only the first k unused bins (``k = 1``: "open a new bin" is one
  option).  The used bins that fit are always all shown.  For priority
  functions that score each bin on its own (first fit, best fit and most
  heuristics) the packing is the same as with ``None``, since identical unused
  bins get identical priorities and ties go to the lowest index; a function that
  looks at positions or at the whole array (``np.diff``, ``len(bins)``, ...) may
  pack differently.

Instance families (deterministic from a seed):

* OR-style: capacity 150, sizes uniform integers in [20, 100], like OR-Library's
  binpack3 (OR3) used by FunSearch (500 items per instance);
* Weibull: capacity 100, sizes floor(45 * Weibull(shape 3)) clipped to
  [1, 100], like FunSearch's Weibull 5k (5000 items per instance).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from evoforge.scoring import ScoreError, as_real_array


@dataclass
class Instance:
    name: str
    capacity: int
    items: list[int]


def or_instances(count: int, n_items: int = 500, seed: int = 0, capacity: int = 150) -> list[Instance]:
    rng = np.random.default_rng(seed)
    return [Instance(f"or_{k}", capacity, rng.integers(20, 101, n_items).tolist()) for k in range(count)]


def weibull_instances(count: int, n_items: int = 5000, seed: int = 0, capacity: int = 100) -> list[Instance]:
    rng = np.random.default_rng(seed)
    return [Instance(f"weibull_{k}", capacity,
                     np.clip(np.floor(45.0 * rng.weibull(3.0, n_items)), 1, capacity).astype(int).tolist())
            for k in range(count)]


def l1_bound(items: Sequence[int], capacity: int) -> int:
    """ceil(sum(items) / capacity), in exact integer arithmetic."""
    return -(-sum(int(x) for x in items) // int(capacity))


def excess_percent(bins_used: Sequence[int], bounds: Sequence[int]) -> float:
    """FunSearch's metric: (mean bins used - mean L1) / mean L1, in percent (a ratio of means)."""
    mean_bins, mean_l1 = sum(bins_used) / len(bins_used), sum(bounds) / len(bounds)
    return 100.0 * (mean_bins - mean_l1) / mean_l1


# Reference heuristics (priority functions).
def first_fit(item: int, bins: np.ndarray) -> np.ndarray:
    """The lowest-index bin wins: bins are passed in index (= opening) order."""
    return -np.arange(len(bins), dtype=float)


def best_fit(item: int, bins: np.ndarray) -> np.ndarray:
    """The fullest bin that fits wins (FunSearch's starting program)."""
    return -(bins - item).astype(float)


class OnlinePacking:
    """The state of one instance being packed; `request()` then `place()` per item."""

    def __init__(self, instance: Instance, unused_bins: int | None = 1):
        cap = int(instance.capacity)
        if not instance.items or any(not 1 <= int(x) <= cap for x in instance.items):
            raise ValueError(f"instance {instance.name}: item sizes must be integers in [1, {cap}]")
        if unused_bins is not None and unused_bins < 1:
            raise ValueError("unused_bins must be None or >= 1")
        self.instance, self.unused_bins = instance, unused_bins
        self.items = [int(x) for x in instance.items]
        n = len(self.items)
        self.remaining = np.full(n, cap, dtype=np.int64)  # one bin per item, as FunSearch
        self.used = np.zeros(n, dtype=bool)
        self.frontier = 0  # 1 + highest used bin index
        self.pos = 0
        self._offered: np.ndarray | None = None

    @property
    def done(self) -> bool:
        return self.pos >= len(self.items)

    @property
    def bins_used(self) -> int:
        return int(self.used.sum())

    def request(self) -> tuple[int, np.ndarray]:
        """(item, remaining capacities of the bins offered) for the next item."""
        item = self.items[self.pos]
        k = self.unused_bins
        limit = len(self.remaining) if k is None else min(len(self.remaining), self.frontier + k)
        idx = np.flatnonzero(self.remaining[:limit] >= item)
        if k is not None:
            unused = ~self.used[idx]
            idx = idx[~unused | (np.cumsum(unused) <= k)]
        self._offered = idx
        return item, self.remaining[idx]

    def place(self, priorities: Any) -> None:
        """Put the current item in the offered bin with the highest (validated) priority."""
        idx, item = self._offered, self.items[self.pos]
        try:
            p = as_real_array(priorities, (len(idx),), "priorities")
        except ScoreError as err:
            try:  # one real number: the same priority for every bin (FunSearch's argmax treats it so)
                p = np.full(len(idx), float(as_real_array(priorities, (), "priorities")))
            except ScoreError:
                p = None
            if p is None:
                raise ScoreError(f"priority({item}, bins) returned invalid priorities for item {self.pos} of instance "
                             f"{self.instance.name} ({len(idx)} bin{'s' if len(idx) != 1 else ''} offered): "
                             f"{err}") from None
        best = int(idx[int(np.argmax(p))])
        self.remaining[best] -= item
        self.used[best] = True
        self.frontier = max(self.frontier, best + 1)
        self.pos += 1
        self._offered = None


def pack_all(instances: Sequence[Instance], priorities: Callable[[list[tuple[int, np.ndarray]]], list],
             unused_bins: int | None = 1, give_up: float | None = None) -> list[int]:
    """Pack all instances in lockstep; return the number of bins each used.

    `priorities` gets one (item, bins) request per unfinished instance and must
    return one priority array per request: one round trip per step, whatever
    the number of instances (``candidate.call_many`` fits).  Raises ScoreError
    for an invalid priority array, and, with `give_up`, as soon as an instance
    uses more than `give_up` times its lower bound of bins: such a heuristic
    opens about a bin per item, and every bin that still fits is offered to each
    later call, so it would otherwise end in a timeout instead of a verdict.
    """
    packs = [OnlinePacking(inst, unused_bins) for inst in instances]
    caps = [None if give_up is None else give_up * l1_bound(p.items, p.instance.capacity) for p in packs]
    active = [(p, cap) for p, cap in zip(packs, caps) if not p.done]
    while active:
        requests = [p.request() for p, _ in active]
        answers = priorities(requests)
        if len(answers) != len(requests):
            raise ScoreError(f"expected {len(requests)} priority arrays, got {len(answers)}")
        for (p, cap), answer in zip(active, answers):
            p.place(answer)
            if cap is not None and p.bins_used > cap:
                raise ScoreError(f"instance {p.instance.name}: {p.bins_used} bins used for the first {p.pos} of "
                                 f"{len(p.items)} items, more than {give_up:g} x the lower bound for all of them "
                                 f"({cap / give_up:.0f}): stopped; this priority opens new bins far too often")
        active = [(p, cap) for p, cap in active if not p.done]
    return [p.bins_used for p in packs]


def pack(instance: Instance, priority: Callable[[int, np.ndarray], Any], unused_bins: int | None = None) -> int:
    """Bins used by a local priority function on one instance (FunSearch semantics by default)."""
    return pack_all([instance], lambda reqs: [priority(item, bins) for item, bins in reqs], unused_bins)[0]


# The instances both bin-packing problems score on (fixed seeds: every candidate sees the same ones).
OR_COUNT, OR_ITEMS, OR_SEED = 5, 500, 3
WEIBULL_COUNT, WEIBULL_ITEMS, WEIBULL_SEED = 5, 5000, 5


GIVE_UP = 2.0  # a candidate using twice the lower bound of bins (first fit: 1.05 x) is stopped


def default_families() -> dict[str, list[Instance]]:
    return {"or": or_instances(OR_COUNT, OR_ITEMS, OR_SEED),
            "weibull": weibull_instances(WEIBULL_COUNT, WEIBULL_ITEMS, WEIBULL_SEED)}


def score_priority(candidate, families: dict[str, list[Instance]], unused_bins: int | None = 1
                   ) -> tuple[float, dict[str, float], list[str]]:
    """Pack every family with the candidate's priority(); (mean excess %, metrics, summary lines).

    Raises ScoreError for an invalid priority answer.
    """
    instances = [inst for insts in families.values() for inst in insts]
    used = pack_all(instances, lambda reqs: candidate.call_many("priority", reqs), unused_bins, GIVE_UP)
    metrics: dict[str, float] = {}
    lines, pos = [], 0
    for name, insts in families.items():
        fam_used, pos = used[pos:pos + len(insts)], pos + len(insts)
        bounds = [l1_bound(i.items, i.capacity) for i in insts]
        excess = excess_percent(fam_used, bounds)
        metrics[f"{name}_excess_pct"] = excess
        metrics[f"{name}_mean_bins"] = sum(fam_used) / len(fam_used)
        metrics[f"{name}_mean_l1_bound"] = sum(bounds) / len(bounds)
        lines.append(f"{name}: {len(insts)} instances of {len(insts[0].items)} items, mean bins used "
                     f"{metrics[f'{name}_mean_bins']:.2f} vs lower bound {metrics[f'{name}_mean_l1_bound']:.2f} "
                     f"({excess:.3f} % excess)")
    return sum(metrics[f"{n}_excess_pct"] for n in families) / len(families), metrics, lines
