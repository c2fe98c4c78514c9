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


def test_exploitation_pressure_sets_how_often_the_best_is_the_parent():
    from evoforge.database.selection import rank_weighted

    ranked = [Entry(id=i, island=0, iteration=i, score=-i, fitness=-i, complexity=10) for i in range(40)]
    share = {}
    for pressure in (0.0, 1.0, 2.0):
        rng = random.Random(3)
        picks = [rank_weighted(rng, ranked, pressure).id for _ in range(4000)]
        share[pressure] = picks.count(0) / len(picks)
        assert len(set(picks)) > 10  # the tail stays alive
    assert abs(share[0.0] - 1 / 40) < 0.015 and abs(share[1.0] - 0.234) < 0.03 and abs(share[2.0] - 0.617) < 0.03


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


# -- the summary counters (database/summary.py) ----------------------------------------------------
def strip_counters(path) -> None:
    """Make a database look like one written before the counters existed (the rest of the schema is unchanged)."""
    con = sqlite3.connect(path)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'summary_%'"):
        con.execute(f"DROP TRIGGER {name}")
    con.executescript("DROP TABLE summary_counters; DROP TABLE summary_models; "
                      "DELETE FROM meta WHERE key = 'summary_counters';")
    con.commit()
    con.close()


def from_scratch_outcomes(con, maximize: bool) -> dict:
    """What strategies.status_extras counted before the counters, from every proposal."""
    from evoforge.strategies import iter_outcomes

    outs = list(iter_outcomes(con, maximize))
    instructions: dict = {}
    for o in outs:
        if o.instruction_id is not None and o.model is not None:
            uses, improved = instructions.get(o.instruction_id, (0, 0))
            instructions[o.instruction_id] = (uses + 1, improved + o.improved)
    cross = [o for o in outs if o.crossover]
    return {"novelty_rejected": sum(o.outcome == "novelty_rejected" for o in outs),
            "crossover": {"proposals": len(cross), "improved": sum(o.improved for o in cross)},
            "instructions": instructions}


def assert_counters_exact(con) -> None:
    from evoforge.database import summary

    assert summary.available(con)
    last = max(con.execute("SELECT COALESCE(MAX(iteration), 0) FROM programs").fetchone()[0],
               con.execute("SELECT COALESCE(MAX(iteration), 0) FROM proposals").fetchone()[0])
    for maximize in (True, False):
        got = summary.from_counters(con, maximize)
        want = summary.recompute(con, maximize, last)
        assert got == want and list(got["failures"]) == list(want["failures"])
        assert list(got["models"]) == list(want["models"])
        assert summary.outcome_counts(con, maximize) == from_scratch_outcomes(con, maximize)


def test_counters_equal_a_recomputation_after_a_real_run_with_failures(tmp_path, llm_double):
    import json
    import shutil

    from conftest import evoforge_cli, write_tiny_problem

    problem = write_tiny_problem(tmp_path / "tiny")
    block = "```python\n# EVOLVE-BLOCK-START\n{}# EVOLVE-BLOCK-END\n```"
    llm_double.fail(500)  # the first request: llm_error (no retries)
    llm_double.script([
        "I cannot help with that.",  # no_edit
        block.format("def f(x):\n    while True:\n        pass\n"),  # timeout
        block.format("def f(x):\n    raise RuntimeError('boom')\n"),  # the candidate raises
        block.format("def f(x) return 1\n"),  # syntax error
        block.format("def f(x):\n    return float('nan')\n"),  # the evaluator says invalid
        block.format("def f(x):\n    return 3.0 * x + 1.0\n"),  # an improvement
        block.format("def f(x):\n    return 0.5 * x\n"),  # worse
    ])  # then the double perturbs the parent's constants
    config = tmp_path / "c.yaml"
    config.write_text(
        "llm:\n  max_retries: 0\n  max_in_flight: 1\n"
        f"  models:\n    - name: m1\n      api_base: {llm_double.base_url}\n"
        "      price_in_per_mtok: 1.5\n      price_out_per_mtok: 4.0\n"
        "prompt:\n  diff_probability: 0.0\n  crossover_probability: 0.5\n"
        "meta_prompt:\n  enabled: true\n  propose_interval: 0\n  seed_instructions: ['', 'Be bold.']\n"
        "search:\n  num_islands: 1\nevaluation:\n  timeout_s: 2\n")
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(problem), "--config", str(config), "--out", str(out), "--iterations", "16",
                        "--no-progress", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    with Store(out / "evoforge.db", readonly=True) as s:
        summ = s.summary()
        assert len(summ["failures"]) >= 4, summ["failures"]  # llm error, no_edit, timeout, crash/syntax/invalid
        assert summ["models"]["m1"]["cost"] > 0 and summ["models"]["m1"].get("improvements", 0) >= 1
        assert s.outcome_counts()["crossover"]["proposals"] >= 1 and s.outcome_counts()["instructions"]
        assert_counters_exact(s.con)
    # `status --json` from the counters == from scratch on the same rows (the database as an older
    # evoforge left it: no counters), byte for byte; and a read-only status never migrates it.
    old = tmp_path / "old"
    shutil.copytree(out, old)
    strip_counters(old / "evoforge.db")
    before = (old / "evoforge.db").read_bytes()
    new_out = evoforge_cli("status", str(out), "--json", check=True).stdout
    old_out = evoforge_cli("status", str(old), "--json", check=True).stdout
    assert new_out.replace(str(out), "RUN") == old_out.replace(str(old), "RUN")
    assert json.loads(new_out)["crossover"]["proposals"] >= 1
    assert (old / "evoforge.db").read_bytes() == before
    with Store(old / "evoforge.db", readonly=True) as ro:
        assert ro.outcome_counts() is None and ro.summary() == summ
    # `resume` migrates the old database once, then keeps the counters up to date.
    proc = evoforge_cli("resume", str(old), "--iterations", "3", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with Store(old / "evoforge.db", readonly=True) as ro:
        assert ro.summary()["n_proposals"] == 19
        assert_counters_exact(ro.con)


def test_migration_of_an_old_database_and_stale_counters(tmp_path):
    from evoforge.database import summary

    path = tmp_path / "e.db"
    with Store(path) as s:
        first = s.add_program(prog(1.0, iteration=0, model=None))
        s.record_iteration(proposal(1), prog(2.0, parent=first))
        s.record_iteration(proposal(2, outcome="edit_failed", error="search_not_found: x"), None)
        s.record_iteration(proposal(3, outcome="llm_error", error=None, model="m2"), None)
        s.record_iteration(proposal(4), prog(0.0, valid=False, iteration=4, parent=first))
        s.meta_set("objective", {"name": "combined_score", "direction": "minimize"})
        want = s.summary()
    strip_counters(path)
    with Store(path, readonly=True) as ro:  # an older run: answered from scratch, nothing written
        assert not summary.available(ro.con) and ro.summary() == want
    assert want["failures"] == {"crash": 1, "search_not_found": 1, "unknown": 1}
    assert want["models"]["m"]["calls"] == 3 and "improvements" not in want["models"]["m"]
    with Store(path) as s:  # opened for writing: migrated once
        assert summary.available(s.con) and s.summary() == want
        assert_counters_exact(s.con)
        # an older evoforge writing to the migrated database: the triggers count its rows too
        s.con.execute("INSERT INTO programs (parent_id, island, generation, iteration, code, valid, score, model, "
                      "failure_kind) VALUES (?, 0, 1, 5, 'x', 1, 0.5, 'm', NULL)", (first,))
        s.con.execute("INSERT INTO proposals (iteration, model, prompt_tokens, latency_s, outcome, extra) "
                      "VALUES (5, 'm', 7, 0.25, 'evaluated', NULL)")
        assert_counters_exact(s.con)
        assert s.summary()["models"]["m"]["improvements"] == 1  # minimize: 0.5 < 1.0
        # rows changed afterwards make the counters stale: readers recompute, the next writer rebuilds
        s.con.execute("UPDATE programs SET score = 3.0 WHERE iteration = 5")
        assert not summary.available(s.con)
        assert s.summary()["models"]["m"].get("improvements") is None
    with Store(path) as s:
        assert summary.available(s.con)
        assert_counters_exact(s.con)
        s.con.execute("DELETE FROM proposals WHERE iteration = 2")
        assert not summary.available(s.con) and "search_not_found" not in s.summary()["failures"]


def test_a_rolled_back_iteration_leaves_the_counters_alone(tmp_path):
    with Store(tmp_path / "e.db") as s:
        s.record_iteration(proposal(1), prog(1.0))
        broken = proposal(2)
        broken.iteration = None
        with pytest.raises(sqlite3.IntegrityError):
            s.record_iteration(broken, prog(2.0, valid=False))
        assert s.summary()["n_programs"] == 1 and s.summary()["failures"] == {}
        assert_counters_exact(s.con)
