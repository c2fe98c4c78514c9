"""Hostile candidates against the real sandbox, in every isolation mode available here.

Every test runs a real ``python -c CODE`` child through ``Sandbox.run`` and checks
that it ended with the right limit kind, a clear ``describe()``, and that nothing it
started is still alive.  Candidate processes are found from the host by a unique
marker in their command line (forked children share the parent's).  What holds
differs by mode; the expectations below are the ones docs/security.md states.
The per-run overhead of each mode is measured by ``python -m evoforge.sandbox.bench``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from evoforge import records as R
from evoforge.records import Limits
from evoforge.sandbox import Sandbox, available_modes, cgroup, clean_env, process, procfs

MODES = [m for m, ok in available_modes().items() if ok]
ISOLATED = [m for m in MODES if m != "process"]
CGROUP = [True, False] if cgroup.available() else [False]


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def marker():
    mark = f"evoforge-test-{uuid.uuid4().hex}"
    yield mark
    for pid in survivors(mark, grace_s=0):  # a failed test must not leave processes behind
        os.kill(pid, 9)


def survivors(mark: str, grace_s: float = 0.5) -> list[int]:
    """Live host processes whose command line holds `mark` (SIGKILLed ones may need a moment)."""
    end = time.monotonic() + grace_s
    while True:
        found = []
        for name in os.listdir("/proc"):
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if mark.encode() in f.read() and procfs.alive(int(name)):
                        found.append(int(name))
            except (OSError, ValueError):
                pass
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.02)


CHILD = "import subprocess, sys\ndef child(code): return subprocess.Popen([sys.executable, '-c', code, MARK])\n"


def run(mode, code, tmp_path, mark="", *, use_cgroup=None, read=(), hide=(), **limits):
    wd = tmp_path / "wd"
    wd.mkdir(exist_ok=True)
    box = Sandbox(Limits(**{"timeout_s": 3.0, **limits}), mode, read_paths=read, hide_paths=hide,
                  use_cgroup=use_cgroup)
    code = f"MARK = {mark!r}\n" + CHILD + textwrap.dedent(code)
    return box.run([sys.executable, "-c", code], workdir=wd, env=clean_env(wd))


# -- time and CPU ------------------------------------------------------------------------
def test_busy_tree_ignoring_sigterm_is_killed_at_the_timeout(mode, tmp_path, marker):
    r = run(mode, """
        import signal
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        child("import signal\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\nwhile True: pass")
        child("import time\\nwhile True: time.sleep(0.01)")
        while True: pass
    """, tmp_path, marker, timeout_s=2.0, cpu_s=100)
    assert r.limit_hit == R.TIMEOUT and r.returncode is None
    assert r.describe() == "killed: wall-clock timeout of 2 s exceeded"
    assert 2.0 <= r.duration_s < 2.8  # SIGKILL at the deadline, no grace period
    assert survivors(marker) == []


def test_cpu_limit_counts_the_whole_tree(mode, tmp_path, marker):
    r = run(mode, "child('while True: pass')\nwhile True: pass", tmp_path, marker, timeout_s=5, cpu_s=1)
    assert r.limit_hit == R.CPU, r.describe()
    assert "CPU time limit of 1 s exceeded" in r.describe()
    assert survivors(marker) == []


# -- memory ------------------------------------------------------------------------------
def test_one_huge_allocation_is_a_memory_failure(mode, tmp_path):
    r = run(mode, "x = bytearray(1 << 30)", tmp_path, memory_mb=256)
    assert r.limit_hit == R.MEMORY and r.returncode == 1
    assert r.describe() == "failed: memory limit of 256 MB exceeded"


def test_memory_spread_over_processes_is_killed(mode, tmp_path, marker):
    # Each child stays under the per-process address-space limit; together they do not.
    r = run(mode, """
        import time
        kids = [child("import time\\nx = bytearray(150 << 20)\\ntime.sleep(30)") for _ in range(4)]
        time.sleep(30)
    """, tmp_path, marker, memory_mb=300)
    assert r.limit_hit == R.MEMORY, r.describe()
    assert r.describe().startswith("killed: memory limit of 300 MB exceeded")
    assert survivors(marker) == []


# -- processes and threads ---------------------------------------------------------------
@pytest.mark.parametrize("use_cgroup", CGROUP, ids=lambda c: "cgroup" if c else "proc-polling")
def test_fork_storm_is_stopped(mode, use_cgroup, tmp_path, marker):
    # 12 nested rounds: at most 4096 processes even if nothing stopped it.
    r = run(mode, """
        import os, time
        for _ in range(12):
            try:
                os.fork()
            except OSError:
                pass
        time.sleep(30)
    """, tmp_path, marker, use_cgroup=use_cgroup, max_processes=32)
    assert r.limit_hit == R.PROCESSES, r.describe()
    assert r.describe().startswith("killed: process/thread limit of 32 exceeded")
    assert survivors(marker) == []
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork


def test_thread_storm_is_stopped(mode, tmp_path, marker):
    r = run(mode, """
        import threading, time
        for _ in range(5000):
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        time.sleep(30)
    """, tmp_path, marker, max_processes=64)
    assert r.limit_hit == R.PROCESSES, r.describe()
    assert "process/thread limit of 64 exceeded" in r.describe()
    assert survivors(marker) == []


# -- disk --------------------------------------------------------------------------------
def test_many_files_fill_the_disk_limit(mode, tmp_path):
    r = run(mode, """
        import time
        for i in range(60):
            with open(f"f{i}", "wb") as f:
                f.write(b"x" * (1 << 20))
        time.sleep(30)
    """, tmp_path, max_disk_mb=20)
    assert r.limit_hit == R.DISK, r.describe()
    assert r.describe() == "killed: disk limit of 20 MB in the working directory exceeded"


def test_deleted_but_open_files_count(mode, tmp_path):
    r = run(mode, """
        import os, time
        f = open("hidden", "wb")
        os.unlink("hidden")
        for _ in range(40):
            f.write(b"x" * (1 << 20))
            f.flush()
        time.sleep(30)
    """, tmp_path, max_disk_mb=20)
    assert r.limit_hit == R.DISK, r.describe()


def test_too_many_files(mode, tmp_path, monkeypatch):
    monkeypatch.setattr(process, "MAX_FILES", 500)
    r = run(mode, "import time\nfor i in range(2000): open(f'e{i}', 'w').close()\ntime.sleep(30)", tmp_path)
    assert r.limit_hit == R.DISK and r.describe() == "killed: more than 500 files in the working directory"


def test_one_huge_file_hits_the_file_size_limit(mode, tmp_path):
    r = run(mode, "open('big', 'wb').write(b'x' * (10 << 20))", tmp_path, max_file_mb=5)
    assert r.limit_hit == R.DISK and r.returncode == 1
    assert r.describe() == "failed: file size limit of 5 MB exceeded"
    assert (tmp_path / "wd" / "big").stat().st_size <= 5 << 20


# -- output ------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_huge_output_is_cut_at_the_cap(mode, stream, tmp_path):
    r = run(mode, f"import sys\nwhile True: sys.{stream}.write('y' * 65536)", tmp_path, max_output_bytes=100_000)
    assert r.limit_hit == R.OUTPUT, r.describe()
    assert r.describe() == "killed: output limit of 100000 bytes per stream exceeded"
    data, cut = (r.stdout, r.stdout_truncated) if stream == "stdout" else (r.stderr, r.stderr_truncated)
    assert len(data) == 100_000 and set(data) == {ord("y")} and cut


# -- escape ------------------------------------------------------------------------------
ESCAPES = """
    import os, subprocess, time
    def daemon(tag, new_session):  # fork, (setsid), fork: the classic daemon
        if os.fork() == 0:
            if new_session:
                os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", MARK + tag])
            os._exit(0)
    daemon("-daemon", True)
    daemon("-orphan", False)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MARK + "-setsid"], start_new_session=True)
    subprocess.Popen(f"nohup sh -c 'sleep 60; : {MARK}-nohup' >/dev/null 2>&1 &", shell=True)
    time.sleep(0.5)
    print("spawned")
"""


@pytest.mark.parametrize("use_cgroup", CGROUP, ids=lambda c: "cgroup" if c else "proc-polling")
def test_nothing_outlives_the_run(mode, use_cgroup, tmp_path, marker):
    r = run(mode, ESCAPES, tmp_path, marker, use_cgroup=use_cgroup)
    assert r.ok and r.stdout == b"spawned\n", (r.describe(), r.stderr)
    left = {open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[-2].decode()[len(marker):] for p in survivors(marker)}
    if mode == "process" and not use_cgroup:
        # Without a PID namespace or cgroup, what leaves the session (setsid) escapes.
        assert left <= {"-daemon", "-setsid"}
    else:
        assert left == set()


# -- secrets and files -------------------------------------------------------------------
def test_parent_secrets_do_not_reach_the_child(mode, tmp_path, monkeypatch):
    secret = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    # A host process with the key in its real environment, as the evoforge parent has.
    decoy = subprocess.Popen(["sleep", "30"], env={**os.environ, "OPENAI_API_KEY": secret})
    try:
        r = run(mode, """
            import os
            print(os.environ.get("OPENAI_API_KEY"))
            seen = [p for p in os.listdir("/proc") if p.isdigit()]
            leaked = []
            for p in seen:
                try:
                    if SECRET.encode() in open(f"/proc/{p}/environ", "rb").read():
                        leaked.append(p)
                except OSError:
                    pass
            print(len(seen), bool(leaked))
        """.replace("SECRET", repr(secret)), tmp_path)
    finally:
        decoy.kill()
        decoy.wait()
    assert r.ok, r.stderr
    env_value, procs, leaked = r.stdout.decode().split()
    assert env_value == "None"
    if mode == "process":  # no PID namespace: every host process is visible, environ too (as root)
        assert leaked == "True"
    else:  # a PID namespace: the wrappers' init and the candidate only
        assert int(procs) <= 2 and leaked == "False"


FILES = """
    import os, subprocess
    def attempt(f):
        try:
            return f()
        except OSError as e:
            return type(e).__name__
    def write(p):
        return attempt(lambda: open(p, "w").write("x") and "wrote")
    sysctl = "/proc/sys/vm/stat_interval"
    value = open(sysctl).read()
    print(*(attempt(lambda p=p: open(p).read()) for p in (SECRET, PUBLIC, OTHER)))
    print(*(write(p) for p in (PUBLIC + ".new", OTHER + ".new", "/etc/evoforge-test", "mine")))
    print(attempt(lambda: open(sysctl, "w").write(value) and "wrote"))  # the same value: harmless
    print(subprocess.run(["mount", "-o", "remount,bind,rw", "/"], capture_output=True).returncode)
    blocks = os.listdir("/sys/block") if os.path.isdir("/sys/block") else []
    print(sum(os.path.exists(f"/dev/{b}") for b in blocks))  # host disks reachable as devices
"""


@pytest.mark.parametrize("mode", ISOLATED)
def test_files_outside_the_workdir(mode, tmp_path):
    home, other = tmp_path / "home", tmp_path / "other"
    (home / ".secret").mkdir(parents=True)
    other.mkdir()
    (home / ".secret" / "key").write_text("s3cret")
    (home / "public.txt").write_text("public")
    (other / "data.txt").write_text("other")
    code = FILES.replace("SECRET", repr(str(home / ".secret" / "key"))).replace(
        "PUBLIC", repr(str(home / "public.txt"))).replace("OTHER", repr(str(other / "data.txt")))
    r = run(mode, code, tmp_path, read=[home], hide=[home / ".secret"])
    assert r.ok, r.stderr
    reads, writes, sysctl, remount, devices = r.stdout.decode().splitlines()
    secret, public, other_read = reads.split()
    assert secret in ("FileNotFoundError", "PermissionError") and public == "public"
    # bwrap and the fork-server show only what was granted; namespaces shows the whole host, read-only.
    assert other_read == ("FileNotFoundError" if mode in ("bwrap", "forkserver") else "other")
    assert [w == "wrote" for w in writes.split()] == [False, False, False, True]  # only the workdir
    assert sysctl == "OSError" and remount != "0" and devices == "0"
    assert not (home / "public.txt.new").exists() and not (other / "data.txt.new").exists()


# -- network -----------------------------------------------------------------------------
@pytest.mark.parametrize("network", [False, True], ids=["no-network", "network"])
def test_loopback_server_of_the_host(mode, network, tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    try:
        port = server.getsockname()[1]
        r = run(mode, f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
                print("connected")
            except OSError as e:
                print(type(e).__name__)
        """, tmp_path, network=network)
    finally:
        server.close()
    assert r.ok, r.stderr
    connected = r.stdout.strip() == b"connected"
    assert connected == (network or mode == "process")  # process mode has no network isolation


# -- a normal program --------------------------------------------------------------------
def test_numpy_program_runs_and_its_output_comes_back(mode, tmp_path):
    r = run(mode, "import numpy as np\nprint(int(np.arange(10).sum()), np.ones(3) @ np.ones(3))", tmp_path)
    assert r.ok and r.limit_hit is None, (r.describe(), r.stderr)
    assert r.stdout == b"45 3.0\n" and r.isolation == mode
    assert r.describe().startswith("exited normally in ")
