"""The problem registry and `evoforge problems [list | show | copy]`, plus running and
evaluating built-in problems by name, through the real CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import evoforge_cli, write_tiny_problem
from evoforge import problems as registry
from evoforge.cli import main
from evoforge.cli_problems import short_source
from evoforge.problem import ProblemError, load_problem

GEOMETRY = ["circle_packing_26", "circle_packing_32", "circles_rectangle_21", "heilbronn_convex_13",
            "heilbronn_convex_14", "heilbronn_triangle_11", "kissing_number_11", "min_max_distance_ratio_14_3d",
            "min_max_distance_ratio_16_2d"]


# -- the registry (in-process) ----------------------------------------------------------------
def test_registry_lists_every_directory_and_each_loads():
    names = registry.names()
    assert set(GEOMETRY) <= set(names) and names == sorted(names)
    for name in names:
        p = load_problem(name)
        assert p.name == name and p.root == registry.BUILTIN_DIR / name, name
        assert p.description.strip() and p.direction in ("maximize", "minimize"), name
        if name in GEOMETRY:
            assert p.evaluator_kind == "hardened" and p.best_known is not None and p.best_known_source, name


def test_adding_a_problem_is_adding_a_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BUILTIN_DIR", tmp_path)
    write_tiny_problem(tmp_path / "my_problem")
    (tmp_path / "_private").mkdir()
    (tmp_path / "not_a_problem").mkdir()  # no problem.yaml
    assert registry.names() == ["my_problem"]
    assert load_problem("my_problem").root == tmp_path / "my_problem"
    with pytest.raises(ProblemError, match="did you mean my_problem"):
        load_problem("my_problm")


def test_an_existing_path_wins_over_a_builtin_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tiny_problem(tmp_path / "circle_packing_26")
    p = load_problem("circle_packing_26")
    assert p.root == tmp_path / "circle_packing_26" and "f(2)" in p.description
    with pytest.raises(ProblemError, match="problem directory not found"):
        (tmp_path / "a_file").write_text("x")
        load_problem("a_file")
    for bad in ("no_such_problem", "_geometry", "geometry", "__pycache__"):
        with pytest.raises(ProblemError, match="neither a problem directory nor a built-in problem"):
            load_problem(bad)
    with pytest.raises(ProblemError, match="problem directory not found: ../circle_packing_26x"):
        load_problem("../circle_packing_26x")


def test_short_source():
    assert short_source("AlphaEvolve (Novikov et al., arXiv:2506.13131, 2025), Appendix B.8; x") == \
        "AlphaEvolve, arXiv:2506.13131"
    assert short_source(None) == "" and len(short_source("y" * 200)) == 60


# -- the CLI -------------------------------------------------------------------------------------
def test_problems_list_table_and_json():
    proc = evoforge_cli("problems", check=True)
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DIRECTION", "OBJECTIVE", "BEST", "KNOWN", "SOURCE"]
    rows = {line.split()[0]: line for line in lines[1:] if line.strip() and not line.startswith(" ")}
    for name in GEOMETRY:
        assert name in rows, name
    assert "kissing_number_11" in rows and " 593 " in rows["kissing_number_11"]
    assert "minimize" in rows["min_max_distance_ratio_16_2d"] and "12.889266112" in rows["min_max_distance_ratio_16_2d"]
    assert "arXiv:2506.13131" in rows["heilbronn_triangle_11"]

    data = json.loads(evoforge_cli("problems", "--json", check=True).stdout)
    assert [d["name"] for d in data] == registry.names()
    by_name = {d["name"]: d for d in data}
    cp = by_name["circle_packing_26"]
    assert cp["direction"] == "maximize" and cp["objective"] == "sum_of_radii"
    assert cp["best_known"] == 2.6359830849176076 and "arXiv:2511.02864" in cp["best_known_source"]
    assert Path(cp["path"]).is_dir()



def test_problems_list_in_process(capsys):
    assert main(["problems", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == registry.names()
    assert main(["problems", "--json", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == data


def test_problems_show():
    proc = evoforge_cli("problems", "show", "heilbronn_convex_13", check=True)
    out = proc.stdout
    assert "objective:       min_area_ratio (maximize)" in out
    assert "best known:      0.030936889034895654" in out and "arXiv:2506.13131" in out
    assert "timeout 60 s, memory 2048 MB" in out
    assert "area of the convex hull" in out and "Scoring:" in out  # the definition and the tolerance policy
    evaluator = next(line for line in out.splitlines() if line.startswith("evaluator:")).split()[1]
    assert Path(evaluator).is_file() and evaluator.endswith("heilbronn_convex_13/evaluator.py")

    data = json.loads(evoforge_cli("problems", "show", "kissing_number_11", "--json", check=True).stdout)
    assert data["name"] == "kissing_number_11" and data["best_known"] == 593 and data["proven_bound"] == 868
    assert Path(data["evaluator"]).is_file() and Path(data["initial_program"]).is_file()
    assert "min_{x != y in C} |x - y|^2 >= max_{x in C} |x|^2" in data["description"]
    assert data["limits"]["timeout_s"] == 60 and data["evaluator_kind"] == "hardened"

    proc = evoforge_cli("problems", "show", "heilbronn_convex_31")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "did you mean" in proc.stderr and "heilbronn_convex_13" in proc.stderr


def test_problems_copy(tmp_path):
    dest = tmp_path / "mine"
    proc = evoforge_cli("problems", "copy", "min_max_distance_ratio_16_2d", str(dest), check=True)
    assert "evoforge run" in proc.stdout
    assert sorted(f.name for f in dest.iterdir()) == ["evaluator.py", "initial_program.py", "problem.yaml"]
    src = registry.BUILTIN_DIR / "min_max_distance_ratio_16_2d"
    for f in dest.iterdir():
        assert f.read_text() == (src / f.name).read_text()
    p = load_problem(dest)
    assert p.root == dest.resolve() and p.objective == "ratio_squared" and p.direction == "minimize"

    again = evoforge_cli("problems", "copy", "min_max_distance_ratio_16_2d", str(dest))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (dest / "problem.yaml").read_text() == (src / "problem.yaml").read_text()  # untouched


def test_problems_copy_edge_cases(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["problems", "copy", "kissing_number_11", str(empty)]) == 0  # an empty directory is fine
    assert (empty / "evaluator.py").is_file() and not (empty / "__pycache__").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["problems", "copy", "kissing_number_11", str(a_file)]) == 2
    assert main(["problems", "copy", "no_such", str(tmp_path / "x")]) == 2
    assert "built-in problem" in capsys.readouterr().err and not (tmp_path / "x").exists()
    nested = tmp_path / "a" / "b"
    assert main(["problems", "copy", "heilbronn_triangle_11", str(nested)]) == 0 and (nested / "problem.yaml").is_file()


def test_evaluate_by_name(tmp_path):
    good = tmp_path / "good.py"
    good.write_text((registry.BUILTIN_DIR / "min_max_distance_ratio_14_3d" / "initial_program.py").read_text())
    proc = evoforge_cli("evaluate", "min_max_distance_ratio_14_3d", str(good), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["valid"] is True and out["ratio_squared"] == 6.0 and out["error"] is None
    assert out["fraction_of_best_known"] == pytest.approx(4.1658497672256525 / 6)

    bad = tmp_path / "bad.py"
    bad.write_text("def construct_points():\n    return [[0.0, 0.0, 0.0]] * 14\n")
    proc = evoforge_cli("evaluate", "min_max_distance_ratio_14_3d", str(bad), "--json", cwd=tmp_path)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["valid"] is False and "points 0 and 1 coincide" in out["error"]



def test_evaluate_unknown_name_exits_2(tmp_path, capsys):
    good = tmp_path / "good.py"
    good.write_text("x = 1\n")
    assert main(["evaluate", "no_such_problem", str(good), "--json"]) == 2
    assert "built-in problem" in capsys.readouterr().err


@pytest.mark.slow
def test_run_by_name(tmp_path, llm_double):
    out = tmp_path / "run"
    proc = evoforge_cli("run", "heilbronn_convex_14", "--api-base", llm_double.base_url, "--model", "m1",
                        "--out", str(out), "--no-progress", "--iterations", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(evoforge_cli("status", str(out), "--json", check=True).stdout)
    assert status["n_proposals"] == 2 and status["best"]["score"] > 0


def test_problems_help(capsys):
    proc = evoforge_cli("problems", "--help")
    assert proc.returncode == 0 and "usage: evoforge problems" in proc.stdout and "copy" in proc.stdout
    for args in (("problems", "list"), ("problems", "show"), ("problems", "copy")):
        with pytest.raises(SystemExit) as info:
            main([*args, "--help"])
        assert info.value.code == 0 and f"usage: evoforge {' '.join(args)}" in capsys.readouterr().out, args
    for args in (("problems", "show"), ("problems", "frobnicate")):  # NAME is required; no such action
        with pytest.raises(SystemExit) as info:
            main(list(args))
        assert info.value.code == 2, args
