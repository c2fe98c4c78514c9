"""The fork-server (isolation ``forkserver``): what it adds to the hostile-candidate tests
of test_sandbox.py (which run in every mode, this one included): warm runs, runs
isolated from each other and from the server, the server's own lifetime."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evaluate_helpers import SIMPLE_SCORER, evaluator_for
from evoforge.records import Limits
from evoforge.sandbox import Sandbox, SandboxError, available_modes, clean_env

pytestmark = pytest.mark.skipif(not available_modes()["forkserver"],
                                reason="the fork-server needs root on x86_64 Linux")


def _py(box: Sandbox, code: str, wd: Path):
    return box.run([sys.executable, "-c", textwrap.dedent(code)], workdir=wd, env=clean_env(wd))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_auto_picks_the_fork_server_and_evaluations_are_correct(tmp_path):
    ev = evaluator_for(tmp_path / "p", SIMPLE_SCORER)
    try:
        assert ev.isolation == "forkserver"
        results = [ev.evaluate("def f(x):\n    return x + 1\n") for _ in range(3)]
        assert all(r.valid and r.metrics["combined_score"] == 2.0 for r in results), results
        bad = ev.evaluate("def f(x):\n    return x + 2\n")
        assert bad.valid and bad.metrics["combined_score"] == 3.0  # no state carried over between runs
    finally:
        ev.close()


def test_preloaded_modules_are_warm_and_randomness_is_fresh(tmp_path):
    scorer = SIMPLE_SCORER.replace("def score(candidate):", textwrap.dedent("""\
        import sys
        WARM = "colorsys" in sys.modules  # imported by the server before this run was forked
        import colorsys, random
        def score(candidate):
            print("warm", WARM, random.random())"""))
    ev = evaluator_for(tmp_path / "p", scorer)
    try:
        runs = [ev.evaluate("def f(x):\n    return x + 1\n") for _ in range(2)]
        assert all(r.valid for r in runs), runs
        lines = [line.split() for r in runs for line in r.stdout.splitlines() if line.startswith("warm")]
        assert [w for _, w, _ in lines] == ["True", "True"], lines
        assert lines[0][2] != lines[1][2]  # forks of one server, yet no shared random state
    finally:
        ev.close()
    box = Sandbox(Limits(timeout_s=10), "forkserver")
    try:
        role = box.start_role("nosuchrole", {}, workdir=tmp_path, env=clean_env(tmp_path)).wait()
        assert role.returncode == 1 and b"unknown role" in role.stderr
    finally:
        box.close()


def test_a_run_cannot_see_other_runs_or_the_server(tmp_path):
    box = Sandbox(Limits(timeout_s=20), "forkserver")
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    try:
        a = box.start([sys.executable, "-c", "import time, os\nopen('secret', 'w').write('a')\ntime.sleep(15)"],
                      workdir=a_dir, env=clean_env(a_dir))
        time.sleep(0.5)
        r = _py(box, f"""
            import os, signal
            print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
            print(os.path.exists({str(a_dir / 'secret')!r}))
            print(os.listdir({str(a_dir)!r}) if os.path.exists({str(a_dir)!r}) else [])
            hits = 0
            for pid in range(3, 400):
                try:
                    os.kill(pid, 0)
                    hits += 1
                except OSError:
                    pass
            print(hits)
        """, b_dir)
        pids, secret, other_dir, hits = r.stdout.decode().split("\n")[:4]
        assert r.ok, r.stderr
        assert json.loads(pids) == [1, 2]  # its init and itself: nothing else exists for it
        # The other run's workdir is at most an empty mount point (its name can show): never its files.
        assert secret == "False" and other_dir == "[]" and hits == "0"
        a.kill()
        assert a.wait(5).returncode is None
    finally:
        box.close()


def test_a_run_can_signal_itself_like_any_process(tmp_path):
    box = Sandbox(Limits(timeout_s=10), "forkserver")
    try:
        r = _py(box, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nimport time; time.sleep(5)", tmp_path)
        assert r.returncode == -signal.SIGTERM and r.duration_s < 4, r
    finally:
        box.close()


def test_a_dead_server_fails_its_runs_and_is_restarted(tmp_path):
    box = Sandbox(Limits(timeout_s=20), "forkserver")
    try:
        run = box.start([sys.executable, "-c", "import time; time.sleep(15)"], workdir=tmp_path,
                        env=clean_env(tmp_path))
        server = box.server()
        os.kill(server.proc.pid, signal.SIGKILL)
        res = run.wait(10)
        assert not res.ok and res.duration_s < 10
        deadline = time.monotonic() + 5
        while _alive(run.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(run.pid)  # the run died with its server
        again = _py(box, "print('back')", tmp_path)
        assert again.ok and again.stdout.strip() == b"back" and box.server() is not server
        assert not os.path.exists(server.template)  # the dead server's template went as it was replaced
    finally:
        box.close()


def test_the_server_and_its_runs_die_with_the_controller(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        from evoforge.records import Limits
        from evoforge.sandbox import Sandbox, clean_env
        box = Sandbox(Limits(timeout_s=60), "forkserver")
        wd = Path({str(tmp_path)!r})
        run = box.start([sys.executable, "-c", "import time; time.sleep(50)"], workdir=wd, env=clean_env(wd))
        print(json.dumps([box.server().proc.pid, run.pid, box.server().template]), flush=True)
        time.sleep(60)
    """)
    ctl = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid, run_pid, template = json.loads(ctl.stdout.readline())
        assert _alive(server_pid) and _alive(run_pid) and os.path.isdir(template)
        ctl.kill()
        ctl.wait()
        deadline = time.monotonic() + 10
        while (_alive(server_pid) or _alive(run_pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(server_pid) and not _alive(run_pid)
        assert not os.path.exists(template)  # the server removes its template directory as it exits
    finally:
        ctl.kill()


def test_templates_of_killed_servers_are_swept(tmp_path):
    import tempfile

    from evoforge.sandbox import forkserver

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists
    stale = Path(tempfile.gettempdir()) / f"{forkserver.TEMPLATE_PREFIX}{dead.pid}-test"
    stale.mkdir(exist_ok=True)
    live = Path(tempfile.mkdtemp(prefix=f"{forkserver.TEMPLATE_PREFIX}{os.getpid()}-"))
    box = Sandbox(Limits(), "forkserver")
    try:
        box.server()
        assert not stale.exists() and live.exists()  # only dead controllers' directories go
        template = box.server().template
    finally:
        box.close()
        live.rmdir()
    assert not os.path.exists(template)


def test_an_unavailable_fork_server_is_a_clear_error(monkeypatch):
    from evoforge.sandbox import forkserver, isolation

    monkeypatch.setattr(isolation, "forkserver_available", lambda: False)
    monkeypatch.setattr(forkserver, "why_unavailable", lambda: "the fork-server needs root")
    with pytest.raises(SandboxError, match="needs root"):
        Sandbox(Limits(), "forkserver")
    assert Sandbox(Limits(), "auto").mode != "forkserver"
