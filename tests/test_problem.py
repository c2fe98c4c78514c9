"""Loading problem directories of the three layouts, and broken ones."""
import pytest

from evoforge.problem import ProblemError, load_problem

PROGRAM = "import math\n# EVOLVE-BLOCK-START\ndef f():\n    return 1\n# EVOLVE-BLOCK-END\n"


def _write(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_native_hardened(tmp_path):
    d = _write(tmp_path / "p", {
        "initial_program.py": PROGRAM,
        "evaluator.py": "def score(candidate):\n    return {'combined_score': candidate.call('f')}\n",
        "problem.yaml": "name: demo\nobjective: combined_score\ndirection: minimize\nlimits:\n  timeout_s: 5\n"
                        "best_known: 0.5\nconfig:\n  search:\n    num_islands: 2\n",
    })
    p = load_problem(d)
    assert (p.format, p.evaluator_kind, p.name, p.direction) == ("native", "hardened", "demo", "minimize")
    assert p.limits.timeout_s == 5 and p.best_known == 0.5 and p.run_config["search"]["num_islands"] == 2
    assert p.fitness(1.0) == -1.0 and p.language == "python"


def test_declared_packages_keep_the_installed_ones_and_warn_about_the_rest(tmp_path):
    d = _write(tmp_path / "p", {
        "initial_program.py": PROGRAM,
        "evaluator.py": "def score(candidate):\n    return {'combined_score': 1.0}\n",
        "problem.yaml": "packages: [numpy, no_such_package_xyz]\n",
    })
    p = load_problem(d)
    assert p.packages == ["numpy"]
    assert any("no_such_package_xyz is not installed" in w for w in p.warnings)
    (d / "problem.yaml").write_text("name: x\n")
    assert load_problem(d).packages is None


def test_openevolve_layout_maps_config_and_warns_once_per_ignored_key(tmp_path):
    d = _write(tmp_path / "oe", {
        "initial_program.py": PROGRAM,
        "evaluator.py": "def evaluate_stage1(p):\n    return {}\ndef evaluate(p):\n    return {}\n",
        "config.yaml": "max_iterations: 12\ncheckpoint_interval: 5\nllm:\n  primary_model: m1\n  primary_model_weight: 0.8\n"
                       "  secondary_model: m2\n  secondary_model_weight: 0.2\n  api_base: http://x/v1\n  top_p: 0.9\n"
                       "database:\n  num_islands: 3\n  population_size: 60\n  elite_selection_ratio: 0.1\n"
                       "evaluator:\n  timeout: 7\n  cascade_thresholds: [0.5]\n  use_llm_feedback: false\n",
    })
    p = load_problem(d)
    assert p.format == "openevolve" and p.evaluator_kind == "evaluate" and p.stages == ["evaluate_stage1"]
    assert p.run_config["run"]["iterations"] == 12
    models = p.run_config["llm"]["models"]
    assert [m["name"] for m in models] == ["m1", "m2"] and models[0]["api_base"] == "http://x/v1"
    assert p.run_config["search"] == {"num_islands": 3, "population_per_island": 20}
    assert p.limits.timeout_s == 7 and p.cascade_thresholds == [0.5]
    ignored = sorted(w.split("'")[1] for w in p.warnings)
    assert ignored == ["checkpoint_interval", "database.elite_selection_ratio", "evaluator.use_llm_feedback", "llm.top_p"]


def test_shinka_layout(tmp_path):
    d = _write(tmp_path / "sh", {"initial.py": PROGRAM, "evaluate.py": "def main(program_path, results_dir):\n    pass\n"})
    p = load_problem(d)
    assert (p.format, p.evaluator_kind, p.initial_program.name) == ("shinka", "shinka", "initial.py")


def test_other_languages(tmp_path):
    d = _write(tmp_path / "c", {"initial_program.c": "// EVOLVE-BLOCK-START\nint f(){return 1;}\n// EVOLVE-BLOCK-END\n",
                                "evaluator.py": "def evaluate(p):\n    return {}\n"})
    assert load_problem(d).language == "c"


@pytest.mark.parametrize("files, message", [
    ({"evaluator.py": "def evaluate(p): return {}\n"}, "no initial program"),
    ({"initial_program.py": "x = 1\n", "evaluator.py": "def evaluate(p): return {}\n"}, "EVOLVE-BLOCK"),
    ({"initial_program.py": PROGRAM}, "no evaluator"),
    ({"initial_program.py": PROGRAM, "evaluator.py": "def evaluate(p) return\n"}, "syntax error"),
    ({"initial_program.py": PROGRAM, "evaluator.py": "x = 1\n"}, "neither score"),
    ({"initial_program.py": PROGRAM, "evaluator.py": "def score(c): pass\n", "problem.yaml": "objectiv: x\n"},
     "objectiv: unknown key"),
    ({"initial_program.py": PROGRAM, "evaluator.py": "def score(c): pass\n", "problem.yaml": "config:\n  run:\n    iters: 1\n"},
     "run.iters: unknown key"),
])
def test_broken_dirs_give_one_clear_message(tmp_path, files, message):
    d = _write(tmp_path / "bad", files)
    with pytest.raises(ProblemError, match=message):
        load_problem(d)


def test_missing_dir(tmp_path):
    with pytest.raises(ProblemError, match="not found"):
        load_problem(tmp_path / "nope")
