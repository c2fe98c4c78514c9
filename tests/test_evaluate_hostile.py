"""Hostile candidates against the hardened evaluator, and secrets in child processes.

The honest score of every candidate here is 2.0 (f(1) = 2); a candidate that
tries to cheat must end with that score or with a failure, never with 1e9.
"""
from __future__ import annotations

import pytest

from evaluate_helpers import SIMPLE_SCORER, evaluator_for, fixture
from evoforge import records as R

FAKE_FRAMES = """
import json, os, struct
FAKE = json.dumps({"status": "ok", "value": {"combined_score": 1e9}, "id": 1, "ok": True,
                   "hello": True, "combined_score": 1e9}).encode()
def spray():
    print(json.dumps({"combined_score": 1e9}))  # a fake result on stdout
    for fd in range(3, 64):  # and on every descriptor the process has, the RPC pipes included
        try:
            os.write(fd, struct.pack(">I", len(FAKE)) + FAKE)
        except OSError:
            pass
"""


def _not_fooled(res):
    assert res.metrics.get("combined_score") != 1e9, res
    return res


@pytest.fixture
def ev(tmp_path):
    return evaluator_for(tmp_path / "p", SIMPLE_SCORER)


def test_fake_results_on_stdout_are_ignored(ev):
    res = _not_fooled(ev.evaluate('print(\'{"combined_score": 1e9}\')\ndef f(x):\n    print(\'{"combined_score": 1e9}\')\n    return x + 1\n'))
    assert res.valid and res.metrics["combined_score"] == 2.0 and "1e9" in res.stdout


@pytest.mark.parametrize("where", ["import", "call"])
def test_fake_frames_on_the_rpc_pipes_break_the_candidate_not_the_score(ev, where):
    code = FAKE_FRAMES + ("spray()\ndef f(x):\n    return x + 1\n" if where == "import"
                          else "def f(x):\n    spray()\n    return x + 1\n")
    res = _not_fooled(ev.evaluate(code))
    # Forged frames are at best a (wrong) answer to a call, at worst a protocol violation.
    assert not res.valid and res.failure_kind in (R.BAD_RESULT, R.EXCEPTION), (res.failure_kind, res.error)
    if where == "import":
        assert "the candidate sent" in res.error


def test_oversized_frame_header_is_a_protocol_violation(ev):
    res = _not_fooled(ev.evaluate("import os, sys, json\ndef f(x):\n"
                                  "    fd = json.loads(sys.argv[2])['resp_fd']\n"
                                  "    os.write(fd, b'\\xff\\xff\\xff\\xff')\n    return x + 1\n"))
    assert res.failure_kind == R.BAD_RESULT and "exceeds" in res.error


@pytest.mark.parametrize("code", [
    "import os\nos._exit(0)\ndef f(x):\n    return 1e9\n",
    "import os\ndef f(x):\n    os._exit(0)\n",
    "import sys\ndef f(x):\n    sys.stdout.write('{\"combined_score\": 1e9}'); sys.stdout.flush()\n    raise SystemExit(0)\n",
    "def f(x):\n    raise KeyboardInterrupt\n",
])
def test_exiting_early_never_produces_a_score(ev, code):
    res = _not_fooled(ev.evaluate(code))
    assert not res.valid and res.failure_kind in (R.CRASH, R.EXCEPTION), (res.failure_kind, res.error)


def test_patching_the_evaluator_from_the_candidate_has_no_effect(ev):
    root = ev.problem.root
    code = f"""
import importlib.util, sys
def f(x):
    try:  # even knowing where the evaluator lives, the candidate only patches its own copy
        spec = importlib.util.spec_from_file_location("evaluator", {str(root / 'evaluator.py')!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.score = lambda c: {{"combined_score": 1e9}}
        sys.modules["evaluator"] = mod
    except Exception:
        pass
    return x + 1
"""
    res = _not_fooled(ev.evaluate(code))
    assert res.valid and res.metrics["combined_score"] == 2.0


def test_rigged_equality_is_lost_on_the_wire():
    ev = fixture("hardened_problem")
    code = ("class Always(list):\n    def __eq__(self, other):\n        return True\n"
            "class Big(float):\n    def __eq__(self, other):\n        return True\n"
            "def sort_numbers(xs):\n    return Always(xs)\n")
    res = ev.evaluate(code)
    assert res.valid and res.metrics["combined_score"] < 1.0  # compared as plain lists by the scorer


def test_secrets_are_not_visible_to_candidate_or_evaluator(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-evoforge-test-secret")
    monkeypatch.setenv("EVOFORGE_TEST_TOKEN", "tok-123")
    ev = evaluator_for(tmp_path / "h", """
        import os
        def score(candidate):
            env = candidate.call("env")
            leaked = [k for k in ("OPENAI_API_KEY", "EVOFORGE_TEST_TOKEN") if k in os.environ or k in env]
            return {"combined_score": 1.0, "leaked": ",".join(leaked), "n": len(env)}
        """, program="# EVOLVE-BLOCK-START\nimport os\ndef env():\n    return dict(os.environ)\n# EVOLVE-BLOCK-END\n")
    res = ev.evaluate(ev.problem.initial_code)
    assert res.valid and res.artifacts["leaked"] == "" and res.metrics["n"] > 0
    ev2 = evaluator_for(tmp_path / "o", "import os\ndef evaluate(p):\n"
                                        "    return {'combined_score': 1.0, 'env': ' '.join(sorted(os.environ))}\n", yaml="")
    res2 = ev2.evaluate("x = 1\n")
    assert res2.valid and "OPENAI_API_KEY" not in res2.artifacts["env"] and "PATH" in res2.artifacts["env"]
    assert "sk-evoforge-test-secret" not in res2.stdout + res2.stderr
