#!/usr/bin/env bash
# `images` with 200 images: berth CLI -> berthd vs docker CLI -> dockerd (and docker CLI -> berthd),
# timed with hyperfine. The 200 images are distinct tiny images (shared busybox layer).
# Usage: bench/images.sh [--count 200] [--runs 30] [--no-deps]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

count=200 runs=30 deps=1
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift ;;
    --runs) runs=$2; shift ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$deps" = 1 ] && "$ROOT/scripts/deps.sh" --bench >&2
ensure_berth
start_registry
log "pushing $count images"
python3 "$ROOT/scripts/testimage.py" --registry "http://$REG" --repo bench/many --count "$count" >/dev/null

start_berthd "$B/berth"
start_dockerd "$B/docker"
log "pulling them into berthd and dockerd"
DOCKER_HOST=unix://$BERTH_SOCK "$BERTH" pull -q -a "$REG/bench/many" >/dev/null
DOCKER_HOST=unix://$DOCKER_SOCK "$DOCKER_CLI" pull -q -a "$REG/bench/many" >/dev/null
nb=$(DOCKER_HOST=unix://$BERTH_SOCK "$BERTH" images -q | wc -l)
nd=$(DOCKER_HOST=unix://$DOCKER_SOCK "$DOCKER_CLI" images -q | wc -l)
log "berthd lists $nb images, dockerd $nd"

hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$B/images.md" \
  -n "berth images (berthd)" "env DOCKER_HOST=unix://$BERTH_SOCK $BERTH images" \
  -n "docker images (berthd)" "env DOCKER_HOST=unix://$BERTH_SOCK $DOCKER_CLI images" \
  -n "docker images (dockerd)" "env DOCKER_HOST=unix://$DOCKER_SOCK $DOCKER_CLI images"
echo
cat "$B/images.md"
