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

# 1. Everything but the browser tests on two pytest-xdist workers (TEST_WORKERS), one torch
#    thread each (tests/conftest.py splits the cores).
# 2. The browser tests (one app server, one Chromium) alone: a page's timings are the
#    server's, not a neighbour's. Both parts run; the script fails if either does (a part
#    that selects no test, e.g. with -k, is fine).
status=0
python -m pytest -q -n "${TEST_WORKERS:-2}" -m "not browser" --durations=15 "$@" || status=$?
[ "$status" -eq 5 ] && status=0
browser=0
python -m pytest -q -m browser --durations=10 "$@" || browser=$?
[ "$browser" -eq 5 ] && browser=0
[ "$status" -ne 0 ] && exit "$status"
exit "$browser"
