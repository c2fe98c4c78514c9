"""Distributed evaluation on a real local Ray cluster: a head and a second node started with
`ray start` on 127.0.0.1 (one CPU each), evolutions run through the real CLI.

Every process a test starts is in a process group of its own (one per Ray node), so
stopping a node or the cluster kills exactly those processes - never another Ray
instance on the machine (which `ray stop` would do); a watchdog process stops them
even if pytest itself is killed.  The two cluster tests are skipped when Ray is not installed."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from conftest import evoforge_cli, write_tiny_problem

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed: pip install -e '.[ray]'")
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",  # independent of a ~/.ray/auth_token left by another Ray on this machine
    # notice a dead node within a few seconds, not the default ~30 s
    "RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3",
}
SLOW_EVALUATOR = """\
import math, time

def score(candidate):
    print("evaluator file:", __file__)
    time.sleep({sleep})
    y = candidate.call("f", 2.0)
    if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
        return {{"valid": False, "error": f"f(2) must be a finite real number, got {{y!r}}"}}
    return {{"combined_score": -abs(float(y) - 7.3), "value": float(y)}}
"""


def _ray_bin() -> str:
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else (shutil.which("ray") or "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _group(pgid: int) -> list[int]:
    """The processes of a process group and everything they started (workers, sandboxes)."""
    members = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    members.append(int(d.name))
            except OSError:
                pass
    kids, out, todo = _children(), set(), list(members)
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo += kids.get(pid, [])
    return sorted(out)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _kill_group(pgid: int) -> None:
    for _ in range(20):
        pids = _group(pgid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


def _watchdog(owner: int, pgid: int, temp_dir: str) -> None:
    """Wait until `owner` (the pytest process) is gone, then kill the node's processes."""
    while _group(pgid):
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            _kill_group(pgid)
            shutil.rmtree(temp_dir, ignore_errors=True)
            return
        time.sleep(1)


class RayNode:
    """One `ray start` (head or worker node), in its own process group."""

    def __init__(self, args: list[str]):
        # short: Ray's unix sockets live under it (107-byte limit), so not under pytest's tmp_path
        self.temp_dir = temp_dir = Path(tempfile.mkdtemp(prefix="efray-", dir="/tmp"))
        proc = subprocess.Popen([_ray_bin(), "start", *args, "--num-cpus", "1", "--node-ip-address", "127.0.0.1",
                               "--temp-dir", str(temp_dir), "--object-store-memory", str(100 * 1024 * 1024),
                               "--node-manager-port", str(_free_port()), "--object-manager-port", str(_free_port()),
                               "--dashboard-agent-listen-port", str(_free_port()),
                               "--dashboard-agent-grpc-port", str(_free_port()),
                               "--metrics-export-port", str(_free_port()),
                               "--runtime-env-agent-port", str(_free_port())],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                                env={**os.environ, **RAY_ENV}, start_new_session=True)
        self.pgid = proc.pid  # its own session: the node's daemons inherit the group, workers are their children
        # if pytest itself is killed (no teardown), the watchdog still stops this node
        subprocess.Popen([sys.executable, __file__, "--watchdog", str(os.getpid()), str(self.pgid), str(temp_dir)],
                         start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        try:
            output, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            self.remove()
            raise
        if proc.returncode != 0:
            self.remove()
            raise RuntimeError(f"ray start failed ({proc.returncode}):\n{output}")

    def processes(self) -> list[int]:
        return _group(self.pgid)

    def evaluating(self) -> bool:
        """A Ray worker of this node is running an evaluation task right now."""
        return any("remote_evaluate" in _comm(p) for p in self.processes())

    def kill(self) -> None:
        """SIGKILL every process of this node (the way a node dies)."""
        _kill_group(self.pgid)

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _start_node(args: list[str]) -> RayNode:
    """`ray start`, tried twice: on a loaded machine its own startup waits can time out."""
    try:
        return RayNode(args)
    except RuntimeError as err:
        print(f"retrying ray start after: {str(err)[-2000:]}", file=sys.stderr)
        return RayNode(args)


@pytest.fixture(scope="module")
def ray_head():
    """A head node for the module; second nodes started by `ray_cluster` are stopped with it."""
    if not HAVE_RAY:
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")
    port = _free_port()
    head, nodes = None, []
    try:
        head = _start_node(["--head", "--port", str(port), "--disable-usage-stats", "--include-dashboard", "false",
                        "--dashboard-port", str(_free_port()), "--ray-client-server-port", str(_free_port())])
        head.address, head.nodes = f"127.0.0.1:{port}", nodes
        yield head
    finally:
        for node in nodes:
            node.remove()
        if head is not None:
            head.remove()


@pytest.fixture
def ray_cluster(ray_head):
    """The head plus a live second node (reused while it lives); yields (head, node)."""
    nodes = ray_head.nodes
    if not nodes or not nodes[-1].processes():
        nodes.append(_start_node(["--address", ray_head.address]))
    _wait_for_cpus(ray_head.address, 2)
    return ray_head, nodes[-1]


def _wait_for_cpus(address: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run([_ray_bin(), "status", "--address", address], capture_output=True, text=True,
                              env={**os.environ, **RAY_ENV}, timeout=60)
        if f"/{n}.0 CPU" in proc.stdout:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster never had {n} CPUs:\n{proc.stdout}\n{proc.stderr}")


def _problem(root: Path, *, sleep: float, config: str = "") -> Path:
    write_tiny_problem(root)
    (root / "evaluator.py").write_text(SLOW_EVALUATOR.format(sleep=sleep))
    if config:
        with open(root / "problem.yaml", "a") as f:
            f.write(textwrap.dedent(config))
    return root


def _args(problem, out, double, *extra):
    return ["run", str(problem), "--api-base", double.base_url, "--model", "m1", "--out", str(out),
            "--no-progress", *extra]


def _nodes_used(run_dir: Path) -> dict[str, int]:
    lines = [ln for ln in (run_dir / "evoforge.log").read_text().splitlines() if "ray evaluations by node:" in ln]
    assert lines, "the run did not log where its evaluations ran"
    return json.loads(lines[-1].split("ray evaluations by node:", 1)[1])


def _proposals(db: Path) -> list[tuple[int, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("SELECT iteration, outcome FROM proposals ORDER BY iteration").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def test_local_executor_does_not_import_ray(tiny_problem):
    code = ("import sys; from evoforge import config, executor, engine, cli_run; from evoforge.problem import load_problem;"
            f"p = load_problem({str(tiny_problem)!r}); c = config.validate({{}});"
            "ex = executor.build_executor(p, c, p.limits); assert ex.kind == 'local' and ex.width >= 1; ex.close();"
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_ray_settings_validate_and_layer(tmp_path):
    from evoforge import config as cfg
    from evoforge.problem import ProblemError, load_problem

    c = cfg.validate({"evaluation": {"executor": "ray", "num_cpus": 2, "num_gpus": 0.5, "memory_request_mb": 512}})
    assert c.evaluation.executor == "ray" and c.evaluation.num_gpus == 0.5
    with pytest.raises(cfg.ConfigError, match="evaluation.executor"):
        cfg.validate({"evaluation": {"executor": "spark"}})
    root = _problem(tmp_path / "p", sleep=0, config="config:\n  evaluation:\n    executor: ray\n    num_cpus: 2\n")
    assert load_problem(root).run_config["evaluation"] == {"executor": "ray", "num_cpus": 2}
    (root / "problem.yaml").write_text("config:\n  evaluation:\n    num_cpuz: 2\n")
    with pytest.raises(ProblemError, match="num_cpuz"):
        load_problem(root)


@needs_ray
# With the cluster start, the two cluster tests take about 65-170 s on 2 busy cores; they run in the
# default suite (the README's test command installs Ray) because they are what proves the Ray executor.
def test_evolution_runs_across_two_nodes(ray_cluster, tmp_path, llm_double):
    head, node = ray_cluster
    problem = _problem(tmp_path / "tiny", sleep=0.3)
    out = tmp_path / "run"
    proc = evoforge_cli(*_args(problem, out, llm_double, "--iterations", "12", "--executor", "ray",
                               "--ray-address", head.address), env=RAY_ENV, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rows = _proposals(out / "evoforge.db")
    assert [r[0] for r in rows] == list(range(1, 13))
    nodes = _nodes_used(out)
    assert len(nodes) == 2 and all(n > 0 for n in nodes.values()), nodes
    assert sum(nodes.values()) == 1 + sum(1 for r in rows if r[1] == "evaluated")  # + the initial check
    s = json.loads(evoforge_cli("status", str(out), "--json", check=True).stdout)
    assert s["isolation"] in ("forkserver", "bwrap", "namespaces", "process") and s["best"] is not None
    with sqlite3.connect(out / "evoforge.db") as con:
        assert con.execute("SELECT COUNT(*) FROM programs WHERE valid = 1 AND iteration > 0").fetchone()[0] > 0


@needs_ray
def test_killing_a_node_mid_run_loses_no_iteration(ray_cluster, tmp_path, llm_double):
    head, node = ray_cluster
    # executor and resources come from the problem's own config; the problem is shipped to the workers
    problem = _problem(tmp_path / "tiny", sleep=0.8, config="""\
        config:
          evaluation:
            executor: ray
            num_cpus: 1
            ray_ship_problem: true
        """)
    out, n = tmp_path / "run", 10
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | RAY_ENV
    proc = subprocess.Popen([sys.executable, "-m", "evoforge", *_args(problem, out, llm_double, "--iterations", str(n),
                             "--ray-address", head.address)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_proposals(out / "evoforge.db")) >= 3 and node.evaluating():
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the run ended before the node could be killed:\n{proc.communicate()[1]}"
        assert node.evaluating(), "no evaluation ever ran on the second node"
        node.kill()  # raylet, agents and the worker with its evaluation in flight
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    rows = _proposals(out / "evoforge.db")
    assert [r[0] for r in rows] == list(range(1, n + 1)), rows  # one proposal per iteration, none lost
    assert "eval_failed" not in {r[1] for r in rows}, rows
    nodes = _nodes_used(out)  # the evaluation lost with the node is counted once, where it finally ran
    assert sum(nodes.values()) == 1 + sum(1 for r in rows if r[1] == "evaluated"), nodes
    with sqlite3.connect(out / "evoforge.db") as con:
        outputs = [r[0] for r in con.execute("SELECT stdout FROM programs WHERE iteration > 0")]
    # the workers read the uploaded copy of the problem, not the controller's directory
    assert outputs and all("evaluator file:" in o and str(problem) not in o for o in outputs), outputs[:2]


if __name__ == "__main__" and sys.argv[1:2] == ["--watchdog"]:
    _watchdog(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
