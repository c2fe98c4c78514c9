"""Does this llama.cpp build run on this CPU?  Checked once, in a child process.

llama-cpp-python compiles llama.cpp with ``-march=native``.  On x86-64 CPUs that
advertise AMX (Sapphire Rapids and later) the build then uses AMX tiles, and on
virtual machines whose hypervisor does not pass AMX state through, the first
generation dies with a general-protection fault (SIGSEGV) inside libggml-cpu:
seen on this project's 2-core VM.  A crash there would take the whole run with
it, so before the first load evoforge runs one tiny generation in a child
process; a crash becomes a `LocalModelError` naming the fix (a build without
AMX, ``scripts/install-local.sh``).  The verdict is cached per build and model
file, so this costs a few seconds once, not per run.

    python -m evoforge.llama_check cmake-args     # CMAKE_ARGS for a build without AMX ('' if not needed)
    python -m evoforge.llama_check check [GGUF]   # the check (cached); exit 0 when the build runs
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

# ggml CMake options for the x86 extensions it can use, by the /proc/cpuinfo flag that enables them.
X86_OPTIONS = {"avx": "GGML_AVX", "avx2": "GGML_AVX2", "fma": "GGML_FMA", "f16c": "GGML_F16C",
               "bmi2": "GGML_BMI2", "avx_vnni": "GGML_AVX_VNNI", "avx512f": "GGML_AVX512",
               "avx512vbmi": "GGML_AVX512_VBMI", "avx512_vnni": "GGML_AVX512_VNNI",
               "avx512_bf16": "GGML_AVX512_BF16"}
AMX_OFF = ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
FIX = "bash scripts/install-local.sh (from a checkout), or rebuild llama-cpp-python without AMX"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cmake_args(flags: set[str]) -> str:
    """CMAKE_ARGS for llama-cpp-python that keep every SIMD extension of this CPU but AMX;
    empty when the CPU has no AMX (the default native build is fine there)."""
    if not any(f.startswith("amx") for f in flags):
        return ""
    on = [f"-D{opt}=ON" for flag, opt in X86_OPTIONS.items() if flag in flags]
    return " ".join(["-DGGML_NATIVE=OFF", *on, *AMX_OFF])


def rebuild_command(flags: set[str]) -> str:
    version = _llama_version() or "VERSION"
    return (f'CMAKE_ARGS="{cmake_args(flags)}" pip install --no-cache-dir --force-reinstall --no-deps '
            f'llama-cpp-python=={version}')


def _llama_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("llama-cpp-python")
    except Exception:  # noqa: BLE001 - not installed: the caller says so itself
        return None


def _build_key(model: Path) -> str:
    """What the verdict depends on: the installed llama.cpp library and the model file."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    parts = [sys.executable, str(model.resolve())]
    st = model.stat()
    parts += [str(st.st_size), str(st.st_mtime_ns)]
    if spec is not None and spec.origin:
        lib_dir = Path(spec.origin).parent / "lib"
        for lib in sorted(lib_dir.glob("*.so*")) if lib_dir.is_dir() else []:
            s = lib.stat()
            parts += [lib.name, str(s.st_size), str(s.st_mtime_ns)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def ensure_runs(model: Path, cache: Path, argv: list[str] | None = None, timeout_s: float = 300) -> None:
    """Raise LocalModelError if one tiny generation with `model` crashes this build of llama.cpp.
    `argv` (tests) replaces the child's command line."""
    from .local_model import LocalModelError

    marker = cache / f"llama-ok-{_build_key(model)}"
    if marker.exists():
        return
    cmd = argv or [sys.executable, "-m", "evoforge.llama_check", "run", str(model)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LocalModelError(f"a one-token test generation with {model} did not finish in {timeout_s:.0f} s") from None
    if proc.returncode == 0:
        cache.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"model": str(model), "llama_cpp": _llama_version()}))
        return
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        flags = cpu_flags()
        why = (" This CPU advertises AMX and llama.cpp was built to use it; on virtual machines that do not "
               "pass AMX through, that crashes." if cmake_args(flags) else "")
        fix = f" Fix: {FIX}: {rebuild_command(flags)}" if cmake_args(flags) else ""
        raise LocalModelError(f"llama.cpp crashed ({name}) in a one-token test generation with {model}; "
                              f"nothing was lost, the run stops here.{why}{fix}")
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise LocalModelError(f"a one-token test generation with {model} failed (exit {proc.returncode}): "
                          + " | ".join(tail))


def _run(model: str | None) -> int:
    from llama_cpp import Llama

    from .local_model import model_path

    path = Path(model) if model else model_path("local")[0]
    llm = Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
    llm.create_completion("def f():", max_tokens=2, temperature=0.0)
    return 0


def main(args: list[str]) -> int:
    if args[:1] == ["cmake-args"]:
        print(cmake_args(cpu_flags()))
        return 0
    if args[:1] == ["run"] and len(args) <= 2:  # the child of ensure_runs
        return _run(args[1] if len(args) == 2 else None)
    if args[:1] == ["check"] and len(args) <= 2:
        from .local_model import LocalModelError, cache_dir, model_path

        try:
            path = Path(args[1]) if len(args) == 2 else model_path("local")[0]
            ensure_runs(path, cache_dir())
        except LocalModelError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"llama.cpp runs {path} on this machine")
        return 0
    print("usage:\n" + "\n".join(__doc__.strip().splitlines()[-2:]), file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
