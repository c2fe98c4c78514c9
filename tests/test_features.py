"""Issue #6 features 1, 2, 4, 6, 7, 8: unit tests and the engine in-process (fake executor, real LLM double)."""
from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from pathlib import Path

import pytest

from conftest import write_tiny_problem
from evoforge import config as cfg
from evoforge.adaptive import ModelBandit
from evoforge.database.store import ProgramRecord, ProposalRecord, Store
from evoforge.engine import Engine
from evoforge.export import iter_traces
from evoforge.llm import Completion, Ensemble
from evoforge.metaprompt import DEFAULT_SEEDS, MetaPrompt, parse_reply
from evoforge.novelty import NoveltyFilter, jaccard, normalise, shingles
from evoforge.problem import load_problem
from evoforge.prompt import Shown, build_messages
from evoforge.records import EvalResult
from evoforge.rundir import RunDir
from evoforge.strategies import Strategies, call_cost, iter_outcomes, status_extras, status_lines


# -- helpers: the real engine with the real LLM double, evaluations in-process ---------------------
def tiny_eval(code: str) -> EvalResult:
    ns: dict = {}
    exec(compile(code, "<candidate>", "exec"), ns)  # the double's own edits of the tiny program: trusted
    y = float(ns["f"](2.0))
    return EvalResult(valid=True, metrics={"combined_score": -abs(y - 7.3), "value": y})


class FakeExecutor:
    width, isolation, description = 1, "none", "in-process"

    def __init__(self):
        self.codes: list[str] = []

    def check(self) -> EvalResult:
        raise NotImplementedError

    async def evaluate(self, code: str) -> EvalResult:
        self.codes.append(code)
        return tiny_eval(code)

    def close(self) -> None:
        pass


def make_engine(tmp_path: Path, double, settings: dict, models: list[dict] | None = None):
    problem = load_problem(write_tiny_problem(tmp_path / "tiny"))
    models = models or [{"name": "m1"}]
    data = cfg.merge({"llm": {"max_in_flight": 1, "max_retries": 0}, "search": {"num_islands": 1}}, settings)
    data["llm"]["models"] = [{"api_base": double.base_url, **m} for m in models]
    config = cfg.validate(data)
    run_dir = RunDir(tmp_path / "run")
    if not run_dir.exists():
        run_dir.create()
    store = Store(run_dir.db_path)
    store.meta_set("objective", {"name": problem.objective, "direction": problem.direction})
    store.meta_set("config", config.model_dump())
    executor = FakeExecutor()
    engine = Engine(problem, config, store, None, Ensemble.from_config(config.llm), run_dir, executor=executor)
    engine.seed_initial(tiny_eval(problem.initial_code))
    return engine, store, executor


def run(engine, iterations: int):
    return asyncio.run(engine.run(iterations))


def rewrite(body: str) -> str:
    return f"```python\n{body}```"


# -- 1. adaptive ensemble -------------------------------------------------------------------------
def test_bandit_favours_the_model_that_improves_per_unit_of_cost():
    b = ModelBandit({"good": 1.0, "bad": 1.0}, exploration=0.2, prior_calls=2)
    assert b.probabilities() == {"good": 0.5, "bad": 0.5}  # no evidence: the prior
    for _ in range(10):
        b.observe("good", 0.0, 0.5)
        b.observe("bad", 0.0, None)
    p = b.probabilities()
    assert p["good"] > 0.8 and p["bad"] >= 0.1 - 1e-9  # the exploration floor: eps * prior share
    # the same improvements at 4x the price: the cheap model wins
    c = ModelBandit({"cheap": 1.0, "dear": 1.0}, exploration=0.0, prior_calls=0)
    for _ in range(10):
        c.observe("cheap", 0.001, 0.5)
        c.observe("dear", 0.004, 0.5)
    assert c.probabilities()["cheap"] == pytest.approx(0.8)
    # one huge jump is capped: it does not outweigh steady improvements
    d = ModelBandit({"steady": 1.0, "lucky": 1.0}, exploration=0.0, prior_calls=0)
    for _ in range(10):
        d.observe("steady", 0.0, 1.0)
        d.observe("lucky", 0.0, None)
    d.observe("lucky", 0.0, 1e6)
    assert d.probabilities()["steady"] > d.probabilities()["lucky"]


def test_bandit_choice_is_reproducible_and_respects_members(tmp_path):
    b = ModelBandit({"a": 1.0, "b": 3.0}, exploration=1.0)

    class M:
        def __init__(self, name, w):
            self.config = cfg.ModelConfig(name=name, weight=w)

    members = [M("a", 1.0), M("b", 3.0)]
    picks = [b.choose(random.Random(k), members).config.name for k in range(400)]
    assert picks == [b.choose(random.Random(k), members).config.name for k in range(400)]
    assert 0.65 < picks.count("b") / 400 < 0.85


def test_adaptive_engine_shifts_calls_to_the_useful_model_and_rebuilds_on_resume(tmp_path, llm_double):
    # m-bad answers prose (no edit), m-good a valid rewrite; same prior weight
    from evoforge.testing.llm_double import LLMDouble

    with LLMDouble(seed=2, mode="garbage") as bad:
        settings = {"llm": {"adaptive": True, "adaptive_exploration": 0.1, "adaptive_prior_calls": 1},
                    "prompt": {"diff_probability": 0.0}}
        models = [{"name": "m-good"}, {"name": "m-bad", "api_base": bad.base_url}]
        engine, store, _ = make_engine(tmp_path, llm_double, settings, models)
        run(engine, 30)
        live = {n: (a.calls, len(a.improvements), a.cost) for n, a in engine.strategies.bandit.arms.items()}
        probs = engine.strategies.bandit.probabilities()
        store.close()
        assert live["m-good"][0] > live["m-bad"][0] and probs["m-good"] > 0.7
        # resume: the state is rebuilt from the stored proposals, identical to the live one
        engine2, store2, _ = make_engine(tmp_path, llm_double, settings, models)
        engine2.restore()
        rebuilt = {n: (a.calls, len(a.improvements), a.cost) for n, a in engine2.strategies.bandit.arms.items()}
        assert rebuilt == live and engine2.strategies.bandit.probabilities() == pytest.approx(probs)
        store2.close()


# -- 7. cost ----------------------------------------------------------------------------------------
def test_cost_is_recorded_and_max_cost_stops_new_proposals(tmp_path, llm_double):
    m = cfg.ModelConfig(name="x", price_in_per_mtok=2.0, price_out_per_mtok=10.0)
    assert call_cost(m, 1_000_000, 100_000) == pytest.approx(3.0)
    models = [{"name": "m1", "price_in_per_mtok": 1000.0, "price_out_per_mtok": 1000.0}]
    engine, store, _ = make_engine(tmp_path, llm_double, {"run": {"max_cost": 0.5}}, models)
    p = run(engine, 50)
    assert p.stop_reason == "cost budget reached" and 1 <= p.done < 50 and p.cost >= 0.5
    s = store.summary()
    assert s["models"]["m1"]["cost"] == pytest.approx(p.cost, rel=1e-6)
    assert s["models"]["m1"]["cost"] == pytest.approx(
        (s["models"]["m1"]["prompt_tokens"] + s["models"]["m1"]["completion_tokens"]) * 1000 / 1e6, rel=1e-4)
    store.close()
    # resume counts what was spent before: no new proposal at all
    engine2, store2, _ = make_engine(tmp_path, llm_double, {"run": {"max_cost": 0.5}}, models)
    p2 = run(engine2, 5)
    assert p2.done == 0 and p2.stop_reason == "cost budget reached"
    store2.close()


# -- 2. meta-prompt evolution -------------------------------------------------------------------------
def test_meta_prompt_table_is_idempotent_and_variants_are_scored(tmp_path):
    store = Store(tmp_path / "db")
    mp = MetaPrompt(cfg.MetaPromptConfig(enabled=True, max_variants=6, min_trials=2), store,
                    description="d", objective="score", direction="maximize")
    mp.restore()
    mp.restore()  # again (resume): no second copy of the seeds
    assert [v.text for v in mp.variants.values()] == DEFAULT_SEEDS
    good, bad = list(mp.variants)[1], list(mp.variants)[2]
    for _ in range(20):
        mp.observe(good, True)
        mp.observe(bad, False)
    picks = [mp.choose(random.Random(k)).id for k in range(200)]
    assert picks.count(good) > 100 and picks.count(bad) < 10
    assert "20/20 children improved" in mp.proposal_messages()[1]["content"]
    reply = Completion(text="Sure!\n<instruction>Prefer best-fit: put the item where it leaves the least room."
                            "</instruction>", model="m", prompt_tokens=10, completion_tokens=5, latency_s=0.1)
    v = mp.add_from_reply(reply, [], iteration=10, cost=0.01)
    assert v is not None and v.text.startswith("Prefer best-fit") and len(mp.active()) == 6
    v2 = mp.add_from_reply(Completion("<instruction>Vectorise the loops.</instruction>", "m", 1, 1, 0.1), [], 20, 0)
    assert v2 is not None and not mp.variants[bad].active  # full: the worst tried variant was retired
    assert mp.add_from_reply(Completion("Prefer best-fit: put the item where it leaves the least room.", "m", 1, 1,
                                        0.1), [], 30, 0) is None  # a duplicate is not added
    rows = store.con.execute("SELECT COUNT(*), SUM(cost) FROM instructions WHERE model IS NOT NULL").fetchone()
    assert rows[0] == 3 and rows[1] == pytest.approx(0.01)  # every request is accounted, even rejected ones
    store.close()


def test_parse_reply():
    assert parse_reply("<instruction> Be bold. </instruction>") == "Be bold."
    assert parse_reply("```\nUse a heap.\n```") == "Use a heap."
    assert parse_reply("Just this.") == "Just this."
    assert parse_reply("   ") is None
    assert parse_reply("```python\n# EVOLVE-BLOCK-START\n```") is None
    assert len(parse_reply("x" * 5000)) == 600


def test_meta_prompt_in_the_engine_stores_the_instruction_and_asks_for_new_ones(tmp_path, llm_double):
    settings = {"meta_prompt": {"enabled": True, "propose_interval": 3, "seed_instructions": ["", "SEED-A"]},
                "prompt": {"diff_probability": 0.0}}
    engine, store, _ = make_engine(tmp_path, llm_double, settings)
    llm_double.script([rewrite("def f(x):\n    return 2.0 * x + 1.0\n"),
                       rewrite("def f(x):\n    return 2.5 * x + 1.0\n"),
                       "<instruction>NEW-VARIANT: change the slope.</instruction>"])
    run(engine, 6)
    texts = [r[0] for r in store.con.execute("SELECT text FROM instructions WHERE origin != 'rejected' ORDER BY id")]
    assert texts == ["", "SEED-A", "NEW-VARIANT: change the slope."]
    meta_requests = [r for r in llm_double.requests if "Instructions tried so far" in r["messages"][1]["content"]]
    assert len(meta_requests) == 2  # iterations 3 and 6
    props = store.con.execute("SELECT extra FROM proposals").fetchall()
    assert all(json.loads(e[0]).get("instruction_id") in (1, 2, 3) for e in props)
    progs = [json.loads(e[0]) for e in store.con.execute("SELECT extra FROM programs WHERE iteration > 0")]
    assert progs and all("instruction_id" in e for e in progs)
    for r in llm_double.requests:  # the chosen instruction is in the prompt as guidance
        content = r["messages"][1]["content"]
        if "SEED-A" in content and r not in meta_requests:
            assert "# Guidance\nSEED-A" in content
    summary = store.summary()
    summary.update(status_extras(store, summary))
    assert len(summary["instructions"]) == 3 and summary["models"]["m1"]["meta_prompt_calls"] == 2
    assert any(line.startswith("prompts ") for line in status_lines(summary))
    store.close()


# -- 4. novelty rejection -------------------------------------------------------------------------
def test_normalisation_and_code_similarity():
    code = "def f(x):\n    # a comment\n    return 1.0 * x + 1.0  # trailing\n"
    assert normalise(code) == normalise("def f(x):\n    return 1.0*x+1.0\n\n\n")
    assert normalise(code) != normalise(code.replace("1.0 * x", "1.5 * x"))
    assert normalise("int f() { return 1; } // c", "cpp") == normalise("int f() {\n  return 1; /* x */ }", "cpp")
    assert normalise("Some  text\n# heading", "text") == "Some text # heading"  # text: comments are content
    a = shingles(normalise("def g(a, b):\n    return a * 2 + b * 3 - a / 4\n"))
    b = shingles(normalise("def g(a, b):\n    return a * 2 + b * 3 - a / 5\n"))
    assert 0.5 < jaccard(a, b) < 1.0 and jaccard(a, a) == 1.0
    assert normalise("def broken(:\n  # c\n") is not None  # unparseable code still normalises


def test_novelty_filter_rejects_near_duplicates_only():
    f = NoveltyFilter(cfg.NoveltyConfig(enabled=True, code_threshold=0.9), "python")
    stored = {1: "def f(x):\n    return 1.0 * x + 1.0\n", 2: "def f(x):\n    return x ** 2 - 3\n"}
    r = f.check("def f(x):\n    # tuned\n    return 1.0 * x + 1.0\n", [1, 2], stored.__getitem__)
    assert r is not None and r.similar_to == 1 and r.similarity == 1.0 and "program 1" in r.message()
    assert f.check("def f(x):\n    return 3.65 * x\n", [1, 2], stored.__getitem__) is None


def test_novelty_in_the_engine_rejects_resamples_and_records(tmp_path, llm_double):
    settings = {"novelty": {"enabled": True, "max_attempts": 3}, "prompt": {"diff_probability": 0.0}}
    engine, store, executor = make_engine(tmp_path, llm_double, settings)
    same = rewrite("def f(x):\n    # only a comment changed\n    return 1.0 * x + 1.0\n")
    llm_double.script([same, same, rewrite("def f(x):\n    return 2.0 * x + 1.0\n"), same, same, same])
    p = run(engine, 6)
    rows = store.con.execute("SELECT iteration, outcome, error FROM proposals ORDER BY id").fetchall()
    outcomes = [r[1] for r in rows]
    assert outcomes == ["novelty_rejected", "novelty_rejected", "evaluated", "novelty_rejected",
                        "novelty_rejected", "novelty_rejected"]
    assert rows[0][2].startswith("novelty_rejected: code similarity 1.0000 to program")
    assert len(executor.codes) == 1  # no evaluation was paid for a duplicate
    assert len({r[0] for r in rows}) == 6 and p.done == 6  # every attempt is one proposal of the budget
    notes = [r for r in llm_double.requests if "was a near-duplicate" in r["messages"][1]["content"]]
    assert len(notes) == 3  # resamples say why the previous answer was rejected; first attempts do not
    assert p.failures.get("novelty_rejected") == 5
    store.close()


@pytest.fixture(scope="module")
def encoder():
    from evoforge.embeddings import EmbeddingUnavailable, shared_encoder

    try:
        return shared_encoder()
    except EmbeddingUnavailable as err:
        pytest.skip(str(err))


def test_embedding_model_loads_offline_and_ranks_similar_texts(encoder):
    v = encoder.encode(["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."])
    assert v.shape == (3, 384)
    sims = v @ v.T
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert sims[0, 1] == pytest.approx(0.755, abs=0.02)  # the published all-MiniLM-L6-v2 value for this pair
    assert sims[0, 2] < 0.2
    ids = encoder.tokenizer.ids("This is an example sentence")
    assert ids == [2023, 2003, 2019, 2742, 6251]


def test_embedding_novelty_rejects_a_comment_only_variant(encoder):
    f = NoveltyFilter(cfg.NoveltyConfig(enabled=True, method="embedding"), "python", encoder_factory=lambda: encoder)
    code = "import numpy as np\n\ndef priority(item, bins):\n    return -np.arange(len(bins), dtype=float)\n"
    stored = {7: code}
    assert f.check(code + "    # variant 17\n", [7], stored.__getitem__).similar_to == 7
    other = code.replace("return -np.arange(len(bins), dtype=float)",
                         "fit = bins - item\n    return -(fit * fit) + 0.1 * np.sqrt(bins) - np.log1p(bins)")
    assert f.check(other, [7], stored.__getitem__) is None


def test_embedding_method_without_a_model_is_a_config_error(tmp_path):
    from evoforge.strategies import check_config

    config = cfg.validate({"novelty": {"enabled": True, "method": "embedding", "embedding_model": str(tmp_path)}})
    with pytest.raises(ValueError, match="model.safetensors"):
        check_config(config)


# -- 6. crossover ----------------------------------------------------------------------------------
def test_crossover_prompt_shows_two_parents_and_stores_the_second(tmp_path, llm_double):
    settings = {"prompt": {"crossover_probability": 1.0, "diff_probability": 0.0}}
    engine, store, _ = make_engine(tmp_path, llm_double, settings)
    run(engine, 8)
    rows = store.con.execute("SELECT parent_id, second_parent_id, extra FROM proposals ORDER BY id").fetchall()
    cross = [r for r in rows if r[1] is not None]
    assert cross and all(r[0] != r[1] and json.loads(r[2])["crossover"] for r in cross)
    assert rows[0][1] is None  # the first proposal: one program on the island, no second parent
    kids = store.con.execute("SELECT second_parent_id FROM programs WHERE second_parent_id IS NOT NULL").fetchall()
    assert len(kids) == len(cross)
    shown = [r for r in llm_double.requests if "# Second parent" in r["messages"][1]["content"]]
    assert len(shown) == len(cross) and "Combine the best ideas" in shown[0]["messages"][1]["content"]
    summary = store.summary()
    summary.update(status_extras(store, summary))
    assert summary["crossover"]["proposals"] == len(cross)
    store.close()


def test_crossover_off_draws_nothing_extra(tmp_path):
    """With every feature off, the plan consumes no random numbers (runs stay as before)."""
    problem = load_problem(write_tiny_problem(tmp_path / "tiny"))
    config = cfg.validate({"llm": {"models": [{"name": "m"}]}})
    s = Strategies(problem, config, None, Ensemble.from_config(config.llm))
    rng = random.Random(5)
    before = rng.getstate()
    plan = s.plan(rng, None, 1, [])
    assert rng.getstate() == before and plan.extra() == {} and s.attempts == 1


def test_build_messages_with_second_parent_and_instruction():
    shown = Shown(code="# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END", score=1.0, metrics={})
    other = Shown(code="# EVOLVE-BLOCK-START\nx = 2\n# EVOLVE-BLOCK-END", score=2.0, metrics={})
    msgs = build_messages(description="", objective="s", direction="maximize", language="python", parent=shown,
                          inspirations=[], mode="rewrite", n_blocks=1, config=cfg.PromptConfig(),
                          instruction="Be bold.", second_parent=other)
    text = msgs[1]["content"]
    assert text.index("# Current program") < text.index("# Second parent") < text.index("# Guidance\nBe bold.")


# -- 8. traces ---------------------------------------------------------------------------------------
def test_traces_have_prompt_reply_metrics_and_improvement(tmp_path, llm_double):
    engine, store, _ = make_engine(tmp_path, llm_double, {"prompt": {"diff_probability": 0.0}})
    llm_double.script([rewrite("def f(x):\n    return 2.0 * x + 1.0\n"), "no code here",
                       rewrite("def f(x):\n    return 0.5 * x + 1.0\n")])
    run(engine, 3)
    recs = list(iter_traces(store))
    assert [r["outcome"] for r in recs] == ["evaluated", "edit_failed", "evaluated"]
    first = recs[0]
    assert first["messages"][0]["role"] == "system" and "def f(x)" in first["messages"][1]["content"]
    assert first["reply"].startswith("```python") and first["model"] == "m1"
    assert first["parent"]["score"] == pytest.approx(-4.3) and first["child"]["metrics"]["value"] == 5.0
    assert first["improvement"] == pytest.approx(2.0) and first["improved"] is True
    assert recs[1]["child"] is None and recs[1]["improvement"] is None and recs[1]["error"].startswith("no_edit")
    assert recs[2]["improvement"] < 0 and recs[2]["improved"] is False
    assert {"objective", "direction", "prompt_tokens", "completion_tokens", "cost"} <= first.keys()
    store.close()


def test_outcomes_and_summary_on_an_old_style_database(tmp_path):
    """Runs written before these features (no cost, no instructions table) still read fine."""
    store = Store(tmp_path / "db")
    store.meta_set("objective", {"name": "s", "direction": "minimize"})
    par = ProgramRecord(id=None, parent_id=None, second_parent_id=None, island=0, generation=0, iteration=0,
                        code="a", language="python", valid=True, score=5.0)
    store.add_program(par)
    child = ProgramRecord(id=None, parent_id=par.id, second_parent_id=None, island=0, generation=1, iteration=1,
                          code="b", language="python", valid=True, score=3.0, model="m")
    prop = ProposalRecord(id=None, iteration=1, island=0, parent_id=par.id, second_parent_id=None, model="m",
                          edit_mode="diff", messages=[], reply="r", prompt_tokens=3, completion_tokens=4,
                          latency_s=0.1, outcome="evaluated", error=None, program_id=None)
    store.record_iteration(prop, child)
    (o,) = list(iter_outcomes(store.con, maximize=False))
    assert o.gain == 2.0 and o.improved and o.cost == 0.0 and o.tokens == 7
    summary = store.summary()
    summary.update(status_extras(store, summary))
    assert summary["cost"] == 0.0 and summary["models"]["m"]["improvement_share"] == 1.0
    assert "instructions" not in summary
    store.close()
    ro = sqlite3.connect(f"file:{tmp_path / 'db'}?mode=ro", uri=True)
    assert ro.execute("SELECT name FROM sqlite_master WHERE name = 'instructions'").fetchone() is None


def test_progress_line_shows_tokens_and_cost(capsys):
    from evoforge.engine import Progress
    from evoforge.progress import ProgressDisplay

    p = Progress(done=3, tokens=1534, cost=0.0123)
    with ProgressDisplay(3, enabled=True) as display:
        display.tty = False
        display._bar = None
        display(p)
    err = capsys.readouterr().err
    assert "1.5k tokens $0.0123" in err and "3/3 iterations" in err
