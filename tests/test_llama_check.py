"""The llama.cpp build check: a build that crashes on this CPU becomes a clear error (real child processes)."""
from __future__ import annotations

import sys

import pytest

from evoforge import llama_check as lc
from evoforge.local_model import LocalModelError

SAPPHIRE = "flags\t\t: fpu sse2 avx avx2 fma f16c bmi2 avx512f avx512vbmi avx512_vnni avx512_bf16 amx_tile amx_int8\n"
OLDER = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi2\n"


def test_cmake_args_drop_amx_and_keep_the_other_extensions():
    args = lc.cmake_args(lc.cpu_flags(SAPPHIRE)).split()
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AMX_INT8=OFF" in args and "-DGGML_AMX_TILE=OFF" in args
    assert {"-DGGML_AVX2=ON", "-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_FMA=ON"} <= set(args)
    assert "-DGGML_AVX_VNNI=ON" not in args  # not in these flags
    assert lc.cmake_args(lc.cpu_flags(OLDER)) == ""  # no AMX: the native build is fine
    assert lc.cpu_flags("no flags line here") == set()


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + bytes(100))
    return path


def test_a_build_that_crashes_is_a_clear_error_and_is_not_cached(model, tmp_path, monkeypatch):
    real = lc.cpu_flags
    monkeypatch.setattr(lc, "cpu_flags", lambda cpuinfo=None: real(SAPPHIRE))  # the message names the AMX fix
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    with pytest.raises(LocalModelError) as info:
        lc.ensure_runs(model, tmp_path / "cache", argv=crash)
    msg = str(info.value)
    assert "crashed (SIGSEGV)" in msg and "AMX" in msg and "-DGGML_AMX_INT8=OFF" in msg
    assert "install-local.sh" in msg
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("llama-ok-*"))


def test_a_failing_child_reports_its_last_lines(model, tmp_path):
    fail = [sys.executable, "-c", "import sys; print('cannot load the model', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(LocalModelError, match=r"exit 3\): cannot load the model"):
        lc.ensure_runs(model, tmp_path / "cache", argv=fail)


def test_a_build_that_runs_is_checked_once_per_build_and_model(model, tmp_path):
    count = tmp_path / "count"
    ok = [sys.executable, "-c", f"open({str(count)!r}, 'a').write('x')"]
    cache = tmp_path / "cache"
    lc.ensure_runs(model, cache, argv=ok)
    lc.ensure_runs(model, cache, argv=ok)
    assert count.read_text() == "x"  # the verdict is cached
    model.write_bytes(b"GGUF" + bytes(200))  # another model file: checked again
    lc.ensure_runs(model, cache, argv=ok)
    assert count.read_text() == "xx"


def test_the_command_line(capsys):
    assert lc.main(["cmake-args"]) == 0
    assert lc.main(["nonsense"]) == 2
    assert "check" in capsys.readouterr().err
