"""The SQLite store and the in-memory search state (islands, archive, selection)."""
from __future__ import annotations

import random
import sqlite3
import threading

import pytest

from evoforge.config import SearchConfig
from evoforge.database import ProgramDatabase, features_of
from evoforge.database.archive import Archive
from evoforge.database.entry import Entry
from evoforge.database.store import ProgramRecord, ProposalRecord, Store, StoreError


def prog(score, *, island=0, iteration=1, code=None, valid=True, parent=None, model="m"):
    code = code if code is not None else f"x = {score!r}\n"
    return ProgramRecord(id=None, parent_id=parent, second_parent_id=None, island=island, generation=1,
                         iteration=iteration, code=code, language="python", valid=valid,
                         score=score if valid else None, metrics={"combined_score": score} if valid else {},
                         failure_kind=None if valid else "crash", features=features_of(code), model=model)


def proposal(iteration, outcome="evaluated", error=None, model="m"):
    return ProposalRecord(id=None, iteration=iteration, island=0, parent_id=1, second_parent_id=None, model=model,
                          edit_mode="diff", messages=[{"role": "user", "content": "hi"}], reply="r",
                          prompt_tokens=10, completion_tokens=5, latency_s=0.1, outcome=outcome, error=error,
                          program_id=None)


def test_store_round_trip_and_summary(tmp_path):
    with Store(tmp_path / "e.db") as s:
        assert s.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        first = s.add_program(prog(1.0, iteration=0, model=None))
        p = prog(2.5, parent=first)
        p.artifacts = {"note": [1, 2]}
        pid, cid = s.record_iteration(proposal(1), p)
        s.record_iteration(proposal(2, outcome="edit_failed", error="search_not_found: no match"), None)
        s.record_iteration(proposal(3), prog(0.0, valid=False, iteration=3, parent=first))
        s.meta_set("objective", {"name": "combined_score", "direction": "maximize"})
        got = s.get_program(cid)
        assert got.score == 2.5 and got.artifacts == {"note": [1, 2]} and got.parent_id == first and got.valid
        assert s.best_program(True).id == cid and s.best_program(False).id == first
        assert s.max_iteration() == 3 and s.max_program_id() == 3
        summ = s.summary()
        assert summ["n_programs"] == 3 and summ["n_valid"] == 2 and summ["n_proposals"] == 3
        assert summ["failures"] == {"crash": 1, "search_not_found": 1}
        assert summ["models"]["m"]["calls"] == 3 and summ["models"]["m"]["prompt_tokens"] == 30
        assert summ["models"]["m"]["improvements"] == 1
        assert s.proposals_for(cid)[0].messages == [{"role": "user", "content": "hi"}]
    with Store(tmp_path / "e.db", readonly=True) as ro:
        assert ro.meta_get("objective")["direction"] == "maximize"
        with pytest.raises(sqlite3.OperationalError):
            ro.meta_set("x", 1)


def test_failed_transaction_leaves_nothing_behind(tmp_path):
    with Store(tmp_path / "e.db") as s:
        bad = prog(1.0)
        bad.metrics = {"x": object()}  # JSON falls back to str: not an error
        s.record_iteration(proposal(1), bad)
        broken = proposal(2)
        broken.iteration = None  # NOT NULL constraint fails after the program row was inserted
        with pytest.raises(sqlite3.IntegrityError):
            s.record_iteration(broken, prog(2.0))
        assert s.max_program_id() == 1 and s.summary()["n_proposals"] == 1


def test_readers_see_commits_while_a_writer_works(tmp_path):
    path = tmp_path / "e.db"
    with Store(path) as w:
        w.add_program(prog(1.0, iteration=0))
        seen = []

        def read():
            with Store(path, readonly=True) as r:
                for _ in range(50):
                    seen.append(r.summary()["n_programs"])

        t = threading.Thread(target=read)
        t.start()
        for i in range(1, 50):
            w.record_iteration(proposal(i), prog(float(i), iteration=i))
        t.join()
        assert seen == sorted(seen) and seen[-1] >= 1


def test_missing_or_corrupt_database_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no run database"):
        Store(tmp_path / "none.db", readonly=True)
    (tmp_path / "bad.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(tmp_path / "bad.db")


def test_archive_keeps_one_elite_per_cell_and_stays_bounded():
    better = lambda a, b: a.fitness > b.fitness  # noqa: E731
    arch = Archive(["complexity", "score"], 4, better)
    rng = random.Random(0)
    for i in range(2000):
        s = rng.uniform(-100, 100)
        arch.add(Entry(id=i, island=0, iteration=i, score=s, fitness=s, complexity=rng.randint(10, 100000)))
    assert 1 < len(arch.cells) <= 16
    best = max(e.fitness for e in arch.elites())
    assert best > 95  # the global best always survives re-binning


def _db(**kw):
    return ProgramDatabase(SearchConfig(num_islands=2, population_per_island=5, migration_interval=10, **kw), True)


def test_population_is_bounded_and_selection_favours_the_best(tmp_path):
    db = _db()
    with Store(tmp_path / "e.db") as s:
        for i in range(40):
            p = prog(float(i), island=i % 2, iteration=i)
            s.add_program(p)
            db.add(p)
    assert all(len(isl.members) == 5 for isl in db.islands)
    rng = random.Random(1)
    picks = [db.sample(rng, 0).parent_id for _ in range(400)]
    best_id = db.islands[0].best().id
    assert picks.count(best_id) > 400 / 5  # above uniform
    assert len(set(picks)) > 3  # but not only the best
    sel = db.sample(rng, 1)
    assert sel.parent_id not in sel.inspiration_ids and len(sel.inspiration_ids) == 3


def test_duplicates_and_invalid_programs_do_not_enter_populations():
    db = _db()
    for i in range(3):
        p = prog(1.0, code="same\n")
        p.id = i + 1
        db.add(p)
    bad = prog(0.0, valid=False)
    bad.id = 9
    db.add(bad)
    assert len(db.islands[0].members) == 1


def test_migration_copies_the_best_to_the_next_island_and_rebuild_replays_it(tmp_path):
    db = _db(migration_count=1)
    with Store(tmp_path / "e.db") as s:
        for i in range(25):
            db.maybe_migrate(i)
            p = prog(float(i if i % 2 == 0 else -i), island=i % 2, iteration=i)
            s.add_program(p)
            db.add(p)
        assert any(e.island == 0 for e in db.islands[1].members.values())  # received a migrant
        again = _db(migration_count=1)
        again.rebuild(s)
    for a, b in zip(db.islands, again.islands):
        assert set(a.members) == set(b.members)
        assert {k: e.id for k, e in a.archive.cells.items()} == {k: e.id for k, e in b.archive.cells.items()}


def test_empty_island_borrows_the_best_program():
    db = _db()
    p = prog(3.0, island=0)
    p.id = 1
    db.add(p)
    assert db.sample(random.Random(0), 1).parent_id == 1
