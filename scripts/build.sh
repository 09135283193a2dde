#!/usr/bin/env bash
# Build berth (CLI) and berthd (daemon). Debug by default.
# Usage: scripts/build.sh [--release] [--tests] [-- extra swift build args]
#   --release   optimized build (.build/release/{berth,berthd})
#   --tests     also build the unit test targets (what `swift test --skip-build` needs)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

config=debug tests=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) config=release ;;
    --debug) config=debug ;;
    --tests) tests=1 ;;
    --) shift; extra+=("$@"); break ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

args=(-c "$config")
if [ "$tests" = 1 ]; then args+=(--build-tests); fi
echo "build: swift build ${args[*]} ${extra[*]:-}"
swift build "${args[@]}" "${extra[@]}"
bin=$(swift build -c "$config" --show-bin-path)
for p in berth berthd; do
  [ -x "$bin/$p" ] || { echo "build: $bin/$p missing" >&2; exit 1; }
done
echo "build: $bin/berth $bin/berthd"
