"""The whole loop from the command line: real CLI subprocesses, real sandbox, real HTTP LLM double."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, evoforge_cli

FIXTURES = Path(__file__).parent / "fixtures"


def run_args(problem, out, double, *extra):
    return ["run", str(problem), "--api-base", double.base_url, "--model", "m1", "--out", str(out),
            "--no-progress", *extra]


def status(run_dir) -> dict:
    proc = evoforge_cli("status", str(run_dir), "--json", check=True)
    return json.loads(proc.stdout)


def _wait_for_proposals(db: Path, n: int, timeout: float = 180) -> None:
    """Until the run has committed `n` proposals (start-up is slow on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                    if con.execute("SELECT COUNT(*) FROM proposals").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass
    raise AssertionError(f"the run did not commit {n} proposals in {timeout} s")


def test_run_status_best_resume(tiny_problem, tmp_path, llm_double):
    out = tmp_path / "run"
    proc = evoforge_cli(*run_args(tiny_problem, out, llm_double, "--iterations", "12", "--seed", "3"),
                        env={"OPENAI_API_KEY": "sk-secret-should-not-be-stored"})
    assert proc.returncode == 0, proc.stderr
    s = status(out)
    assert s["n_proposals"] == 12 and s["last_iteration"] == 12 and s["models"]["m1"]["calls"] == 12
    assert s["isolation"] in ("forkserver", "bwrap", "namespaces", "process") and s["best"]["score"] > -4.3 - 1e-9
    best = json.loads(evoforge_cli("best", str(out), "--json", check=True).stdout)
    assert best["score"] == s["best"]["score"] and "def f(x)" in best["code"]
    assert (out / "evoforge.log").read_text().count("new best") >= 1
    on_disk = json.loads((out / "best" / "best_metrics.json").read_text())
    assert on_disk["score"] == best["score"] and (out / "best" / "best_program.py").read_text() == best["code"]
    assert b"sk-secret" not in (out / "evoforge.db").read_bytes()
    proc = evoforge_cli("resume", str(out), "--api-base", llm_double.base_url, "--iterations", "5", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    s2 = status(out)
    assert s2["n_proposals"] == 17 and s2["last_iteration"] == 17
    assert s2["best"]["score"] >= s["best"]["score"]
    text = evoforge_cli("status", str(out), check=True).stdout
    assert "programs" in text and "m1: 17 calls" in text


def test_kill_and_resume_loses_nothing(tiny_problem, tmp_path, llm_double):
    out = tmp_path / "run"
    llm_double.set_latency(0.2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.Popen([sys.executable, "-m", "evoforge", *run_args(tiny_problem, out, llm_double,
                             "--iterations", "400")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    db = out / "evoforge.db"
    _wait_for_proposals(db, 8)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = status(out)
    with sqlite3.connect(db) as con:
        programs_before = con.execute("SELECT id, code, score FROM programs ORDER BY id").fetchall()
    assert 8 <= before["n_proposals"] < 400
    llm_double.set_latency(0)
    todo = 10
    proc = evoforge_cli("resume", str(out), "--api-base", llm_double.base_url, "--iterations", str(todo),
                        "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as con:
        iters = [r[0] for r in con.execute("SELECT iteration FROM proposals ORDER BY iteration")]
        after = con.execute("SELECT id, code, score FROM programs ORDER BY id").fetchall()
    assert after[:len(programs_before)] == programs_before  # everything committed before the kill is kept
    assert len(iters) == before["n_proposals"] + todo and len(set(iters)) == len(iters)


def test_sigterm_stops_cleanly_with_exit_130(tiny_problem, tmp_path, llm_double):
    out = tmp_path / "run"
    llm_double.set_latency(0.3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.Popen([sys.executable, "-m", "evoforge", *run_args(tiny_problem, out, llm_double,
                             "--iterations", "1000")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _wait_for_proposals(out / "evoforge.db", 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130
    assert status(out)["n_proposals"] >= 1


def test_evaluate_json_and_exit_codes(tiny_problem, tmp_path):
    good = tmp_path / "good.py"
    good.write_text("def f(x):\n    return x + 5.3\n")
    proc = evoforge_cli("evaluate", str(tiny_problem), str(good), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["valid"] is True and out["error"] is None and out["combined_score"] == pytest.approx(0.0)
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    while True:\n        pass\n")
    proc = evoforge_cli("evaluate", str(tiny_problem), str(bad), "--json", "--timeout", "1")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["valid"] is False and "timeout" in out["error"]
    nan = tmp_path / "nan.py"
    nan.write_text("def f(x):\n    return float('nan')\n")
    out = json.loads(evoforge_cli("evaluate", str(tiny_problem), str(nan), "--json").stdout)
    assert out["valid"] is False and "finite" in out["error"]
    assert evoforge_cli("evaluate", str(tiny_problem), str(tmp_path / "missing.py")).returncode == 2


@pytest.mark.parametrize("name,message", [
    ("broken_no_initial", "initial"), ("broken_import", "evaluator"), ("broken_initial_fails", "initial program"),
])
def test_broken_problem_dirs_exit_2_with_a_message(name, message, tmp_path, llm_double):
    proc = evoforge_cli(*run_args(FIXTURES / name, tmp_path / "run", llm_double, "--iterations", "2"))
    assert proc.returncode == 2, proc.stderr
    assert "evoforge: error:" in proc.stderr and message in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists() and len(llm_double.requests) == 0


def test_bad_config_is_rejected_with_the_key(tiny_problem, tmp_path, llm_double):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("search:\n  num_islandz: 3\n")
    proc = evoforge_cli(*run_args(tiny_problem, tmp_path / "run", llm_double, "--config", str(cfg)))
    assert proc.returncode == 2 and "num_islandz" in proc.stderr and not (tmp_path / "run").exists()


def test_unreachable_endpoint_exits_1_and_keeps_the_run(tiny_problem, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("llm:\n  max_retries: 1\n")
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(tiny_problem), "--api-base", "http://127.0.0.1:9/v1", "--model", "m",
                        "--out", str(out), "--config", str(cfg), "--iterations", "3", "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert "cannot reach" in proc.stderr
    assert status(out)["n_programs"] >= 1  # the initial program is stored; resume works once the server is up


def test_garbage_and_hostile_replies_are_recorded_and_the_run_goes_on(tiny_problem, tmp_path, llm_double):
    llm_double.script([
        "I cannot help with that.",  # no edit
        "```python\n# EVOLVE-BLOCK-START\ndef f(x):\n    while True:\n        pass\n# EVOLVE-BLOCK-END\n```",
        "```python\n# EVOLVE-BLOCK-START\nimport os\ndef f(x):\n    return float(len(os.environ.get('OPENAI_API_KEY', '')))\n# EVOLVE-BLOCK-END\n```",
    ])
    cfg = tmp_path / "c.yaml"
    cfg.write_text("prompt:\n  diff_probability: 0.0\nevaluation:\n  timeout_s: 2\nllm:\n  max_in_flight: 1\n")
    out = tmp_path / "run"
    proc = evoforge_cli(*run_args(tiny_problem, out, llm_double, "--iterations", "6", "--config", str(cfg)),
                        env={"OPENAI_API_KEY": "sk-" + "x" * 40})
    assert proc.returncode == 0, proc.stderr
    s = status(out)
    assert s["n_proposals"] == 6 and s["failures"].get("no_edit") == 1 and s["failures"].get("timeout") == 1
    with sqlite3.connect(out / "evoforge.db") as con:
        values = [json.loads(r[0]).get("value") for r in con.execute("SELECT metrics FROM programs WHERE valid = 1")]
    assert 0.0 in values and 43.0 not in values  # the key never reached the candidate


@pytest.mark.parametrize("fixture", ["oe_problem", "shinka_problem"])
def test_peer_formats_run(fixture, tmp_path, llm_double):
    out = tmp_path / "run"
    proc = evoforge_cli(*run_args(FIXTURES / fixture, out, llm_double, "--iterations", "4"))
    assert proc.returncode == 0, proc.stderr
    assert status(out)["n_proposals"] == 4


def test_every_command_has_help():
    for cmd in ("run", "resume", "status", "best", "evaluate", "config"):
        proc = evoforge_cli(cmd, "--help")
        assert proc.returncode == 0 and "usage: evoforge" in proc.stdout
    assert evoforge_cli().returncode == 2
