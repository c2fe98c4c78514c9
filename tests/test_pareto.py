"""Multi-objective search: the bounded Pareto archive, selection from it, and its use in ProgramDatabase."""
from __future__ import annotations

import math
import random

import pytest

from evoforge import config as cfg
from evoforge.database import ProgramDatabase
from evoforge.database.entry import Entry
from evoforge.database.pareto import ParetoArchive, crowding, dominates, front_of, objectives_of, pareto_select
from evoforge.database.selection import Selection
from evoforge.database.store import ProgramRecord

OBJ = [("quality", True), ("size", False)]  # maximise quality, minimise size


def entry(i, quality, size, island=0, **extra):
    return Entry(id=i, island=island, iteration=i, score=quality, fitness=quality,
                 metrics={"quality": quality, "size": size, **extra}, complexity=10 * i, code_hash=f"h{i}")


def test_dominance():
    assert dominates((2, 1), (1, 1)) and dominates((2, 2), (1, 1))
    assert not dominates((1, 1), (1, 1)) and not dominates((2, 0), (1, 1))


def test_archive_keeps_exactly_the_non_dominated():
    a = ParetoArchive(OBJ)
    assert a.add(entry(1, 0.5, 50))
    assert a.add(entry(2, 0.7, 80))  # better quality, bigger: both on the front
    assert not a.add(entry(3, 0.4, 60))  # dominated by 1
    assert not a.add(entry(4, 0.5, 50))  # the same vector as 1: the first one stays
    assert a.add(entry(5, 0.6, 40))  # dominates 1
    assert [e.id for e in a.entries()] == [2, 5]
    assert not a.add(entry(6, float("nan"), 1)) and not a.add(Entry(7, 0, 7, 1.0, 1.0, metrics={"quality": 1.0}))
    assert not a.add(entry(2, 0.9, 1))  # already a member (same id)
    brute = [e for e in [entry(1, 0.5, 50), entry(2, 0.7, 80), entry(3, 0.4, 60), entry(5, 0.6, 40)]
             if not any(dominates((o.metrics["quality"], -o.metrics["size"]), (e.metrics["quality"], -e.metrics["size"]))
                        for o in [entry(1, 0.5, 50), entry(2, 0.7, 80), entry(3, 0.4, 60), entry(5, 0.6, 40)])]
    assert [e.id for e in front_of([entry(1, 0.5, 50), entry(2, 0.7, 80), entry(3, 0.4, 60), entry(5, 0.6, 40)],
                                   OBJ)] == [e.id for e in brute]


def test_bounded_archive_keeps_the_extremes_and_stays_spread():
    rng = random.Random(0)
    a = ParetoArchive(OBJ, capacity=5)
    points = [(i / 50, 1 + (i / 50) ** 2 * 100) for i in range(51)]  # all mutually non-dominated
    rng.shuffle(points)
    for k, (q, s) in enumerate(points, 1):
        a.add(entry(k, q, s))
    qs = sorted(e.metrics["quality"] for e in a.entries())
    assert len(a) == 5 and qs[0] == 0.0 and qs[-1] == 1.0  # extremes have infinite crowding distance
    assert all(b - a_ > 0.05 for a_, b in zip(qs, qs[1:]))  # no two crowded together
    assert all(math.isinf(d) for d in crowding({1: (0.0, 0.0), 2: (1.0, 1.0)}).values())


def test_pareto_select_uses_the_front_at_the_configured_share():
    a = ParetoArchive(OBJ)
    for e in (entry(1, 0.5, 50), entry(2, 0.7, 80)):
        a.add(e)
    sel = Selection(parent_id=9, inspiration_ids=[1, 8, 7], how="exploit")
    assert pareto_select(random.Random(1), a, sel, 0.0) == sel
    picks = [pareto_select(random.Random(i), a, sel, 1.0) for i in range(40)]
    assert {p.parent_id for p in picks} == {1, 2} and all(p.how == "pareto" for p in picks)
    for p in picks:  # the usual parent becomes an inspiration; the count stays; no parent among them
        assert 9 in p.inspiration_ids and p.parent_id not in p.inspiration_ids and len(p.inspiration_ids) == 3
    shares = sum(pareto_select(random.Random(i), a, sel, 0.3).how == "pareto" for i in range(2000)) / 2000
    assert shares == pytest.approx(0.3, abs=0.04)
    assert pareto_select(random.Random(0), ParetoArchive(OBJ), sel, 1.0) == sel  # empty front: unchanged


def _prog(i, island, quality, size):
    return ProgramRecord(id=i, parent_id=None, second_parent_id=None, island=island, generation=0, iteration=i,
                         code=f"c{i}", language="python", valid=True, score=quality,
                         metrics={"quality": quality, "size": size}, features={"complexity": size, "hash": f"h{i}"})


class _Store:
    def __init__(self, progs):
        self.progs = progs

    def iter_light(self):
        return iter(self.progs)


def test_program_database_keeps_fronts_per_island_and_rebuilds_them():
    search = cfg.validate({"search": {"num_islands": 2, "objectives": [{"metric": "quality"},
                                                                       {"metric": "size", "direction": "minimize"}],
                                      "pareto_ratio": 1.0, "pareto_size": 4}}).search
    assert objectives_of(search.objectives) == OBJ
    db = ProgramDatabase(search)
    progs = [_prog(1, 0, 0.5, 50), _prog(2, 0, 0.9, 90), _prog(3, 0, 0.4, 60), _prog(4, 1, 0.1, 5)]
    for p in progs:
        db.add(p)
    assert [e.id for e in db.fronts[0].entries()] == [1, 2] and [e.id for e in db.fronts[1].entries()] == [4]
    assert {db.sample(random.Random(i), 0).parent_id for i in range(30)} == {1, 2}
    db2 = ProgramDatabase(search)
    db2.rebuild(_Store(progs))
    assert [[e.id for e in f.entries()] for f in db2.fronts] == [[e.id for e in f.entries()] for f in db.fronts]


def test_single_objective_runs_draw_the_same_random_numbers_as_before():
    plain = cfg.validate({}).search
    assert ProgramDatabase(plain).fronts is None
    with_front = cfg.validate({"search": {"objectives": [{"metric": "quality"}], "pareto_ratio": 0.0}}).search
    dbs = [ProgramDatabase(plain), ProgramDatabase(with_front)]
    for db in dbs:
        for p in [_prog(1, 0, 0.5, 50), _prog(2, 0, 0.9, 90), _prog(3, 0, 0.4, 60)]:
            db.add(p)
    a = [dbs[0].sample(random.Random(i), 0) for i in range(20)]
    b = [dbs[1].sample(random.Random(i), 0) for i in range(20)]
    assert [s.parent_id for s in a] == [s.parent_id for s in b]  # ratio 0: the front never replaces a parent


def test_objectives_config_is_validated():
    with pytest.raises(cfg.ConfigError, match="search.objectives.0.direction"):
        cfg.validate({"search": {"objectives": [{"metric": "x", "direction": "up"}]}})
    with pytest.raises(cfg.ConfigError, match="search.objectives.0.bogus: unknown key"):
        cfg.validate({"search": {"objectives": [{"metric": "x", "bogus": 1}]}})
    with pytest.raises(cfg.ConfigError, match="judge.temperature"):
        cfg.validate({"judge": {"temperature": 5}})
    text = cfg.docs_markdown()
    assert "## `judge`" in text and "`objectives`" in text and "`pareto_ratio`" in text
