#!/usr/bin/env bash
# Cold image pull time: berth vs Docker vs Podman, side by side (loopback registry, no network).
# Builds the issue's image: 4 layers, ~480 MB unpacked (busybox + slices of /usr/share, /usr/lib,
# /usr/bin; ~180 MB gzip, the largest layer 77 MB gzip -> 161 MB), pushes it to a local
# docker-registry, then pulls it N times per engine, each pull into a fresh data root (removed after
# the run and synced before the next one, so one engine's deletes don't slow the next pull), and
# prints mean/min/max and ratios.
# Usage: bench/pull.sh [-n ITER] [--engines berth,docker,podman] [--no-deps]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

n=3 engines=berth,docker,podman deps=1
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift ;;
    --engines) engines=$2; shift ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$deps" = 1 ] && "$ROOT/scripts/deps.sh" --bench >&2
[[ ,$engines, == *,berth,* ]] && ensure_berth

start_registry
IMG=$REG/bench/big:latest
log "building and pushing $IMG (4 layers)"
python3 "$ROOT/scripts/testimage.py" --registry "http://$REG" --repo bench/big --kind dirs \
  --dir /usr/share:140M --dir /usr/lib/x86_64-linux-gnu:90M --dir /usr/bin:180M >&2
log "registry holds $(du -sm "$B/registry" | cut -f1) MB"

declare -A times
pull_berth() {
  start_berthd "$B/berth-$1"
  local t0 t1; t0=$(now)
  DOCKER_HOST=unix://$BERTH_SOCK "$BERTH" pull -q "$IMG" >/dev/null
  t1=$(now)
  stop_pid "$BERTHD_PIDNOW"; unmount_under "$B/berth-$1"; rm -rf "$B/berth-$1"
  echo "$t1 - $t0" | bc
}
pull_docker() {
  start_dockerd "$B/docker-$1"
  local t0 t1; t0=$(now)
  DOCKER_HOST=unix://$DOCKER_SOCK "$DOCKER_CLI" pull -q "$IMG" >/dev/null
  t1=$(now)
  stop_dockerd "$B/docker-$1"; unmount_under "$B/docker-$1"; rm -rf "$B/docker-$1"
  echo "$t1 - $t0" | bc
}
pull_podman() {
  local d=$B/podman-$1 t0 t1
  mkdir -p "$d"
  t0=$(now)
  podman --root "$d/root" --runroot "$d/run" --storage-driver overlay pull -q --tls-verify=false "$IMG" >/dev/null
  t1=$(now)
  podman --root "$d/root" --runroot "$d/run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
  unmount_under "$d"; rm -rf "$d"
  echo "$t1 - $t0" | bc
}

IFS=, read -r -a engs <<<"$engines"
settle() { sync; sleep 3; }
for e in "${engs[@]}"; do
  for i in $(seq "$n"); do
    settle
    t=$("pull_$e" "$i")
    log "$e run $i: ${t}s"
    times[$e]="${times[$e]:-} $t"
  done
done

echo
echo "Cold pull of $IMG ($n runs each, fresh data root per run)"
python3 - "${engs[@]}" <<PY
import statistics, sys
times = {$(for e in "${engs[@]}"; do printf '"%s": [%s],' "$e" "$(echo ${times[$e]} | tr ' ' ',')"; done)}
base = statistics.mean(times["berth"]) if "berth" in times else None
print(f"{'engine':8} {'mean s':>8} {'min s':>8} {'max s':>8} {'vs berth':>9}")
for e in sys.argv[1:]:
    t = times[e]
    m = statistics.mean(t)
    r = f"{m / base:8.2f}x" if base else "-"
    print(f"{e:8} {m:8.2f} {min(t):8.2f} {max(t):8.2f} {r:>9}")
PY
