#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it: unit tests, AppTests,
# real-browser tests (Debian's Chromium driven by Playwright) and ruff.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k geometry`.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -r requirements.txt -r requirements-test.txt -r requirements-scale.txt

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# Two workers (TEST_WORKERS): the browser tests (one app server, one Chromium, mostly
# waiting for pages) on one, the rest on the other; tests/conftest.py splits the cores.
python -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadgroup --durations=15 "$@"
