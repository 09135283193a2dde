#!/usr/bin/env bash
# The full test run (what CI runs): deps -> build incl. tests -> swift test (unit) -> pytest (integration).
# Exits non-zero if anything failed; pytest's summary line is the last line printed.
# Usage: scripts/test.sh [--no-deps] [--no-unit] [--no-integration] [pytest args...]
#   e.g. scripts/test.sh --no-unit -k harness
# Env: BERTH_IT_STRICT=1 ignores tests/integration/known_failures.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

deps=1 unit=1 integ=1 pyargs=()
for a in "$@"; do
  case "$a" in
    --no-deps) deps=0 ;;
    --no-unit) unit=0 ;;
    --no-integration) integ=0 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) pyargs+=("$a") ;;
  esac
done

fail=0
if [ "$deps" = 1 ]; then
  scripts/deps.sh || { echo "test: deps failed" >&2; exit 1; }
fi

echo "== build (debug$([ "$unit" = 1 ] && echo ', with tests'))"
if ! scripts/build.sh $([ "$unit" = 1 ] && echo --tests); then
  echo "test: build failed" >&2
  exit 1
fi

if [ "$unit" = 1 ]; then
  echo "== unit tests: swift test"
  if ! swift test --skip-build; then
    echo "test: unit tests FAILED" >&2
    fail=1
  fi
fi

if [ "$integ" = 1 ]; then
  echo "== integration tests: pytest tests/integration"
  export BERTHD="${BERTHD:-$PWD/.build/debug/berthd}" BERTH="${BERTH:-$PWD/.build/debug/berth}"
  python3 -m pytest tests/integration -q -ra "${pyargs[@]}"
  rc=$?
  # 5 = no tests collected: a failure here, never a silent pass.
  if [ "$rc" -ne 0 ]; then fail=1; fi
fi
exit "$fail"
