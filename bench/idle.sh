#!/usr/bin/env bash
# Idle memory: berthd vs dockerd + containerd (VmRSS), right after start and after one small pull.
# Usage: bench/idle.sh [--settle SECONDS] [--no-deps]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

settle=5 deps=1
while [ $# -gt 0 ]; do
  case "$1" in
    --settle) settle=$2; shift ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$deps" = 1 ] && "$ROOT/scripts/deps.sh" --bench >&2
ensure_berth
start_registry
python3 "$ROOT/scripts/testimage.py" --registry "http://$REG" --repo bench/busybox --kind busybox >/dev/null
IMG=$REG/bench/busybox:latest

start_berthd "$B/berth"
sleep "$settle"; b_idle=$(rss_kib "$BERTHD_PIDNOW")
DOCKER_HOST=unix://$BERTH_SOCK "$BERTH" pull -q "$IMG" >/dev/null
sleep "$settle"; b_after=$(rss_kib "$BERTHD_PIDNOW")
stop_pid "$BERTHD_PIDNOW"

start_dockerd "$B/docker"
sleep "$settle"
d_idle=$(rss_kib "$DOCKERD_PIDNOW"); c_idle=$(rss_kib "${CONTAINERD_PIDNOW:-0}")
DOCKER_HOST=unix://$DOCKER_SOCK "$DOCKER_CLI" pull -q "$IMG" >/dev/null
sleep "$settle"
d_after=$(rss_kib "$DOCKERD_PIDNOW"); c_after=$(rss_kib "${CONTAINERD_PIDNOW:-0}")
stop_dockerd "$B/docker"

echo
printf '%-22s %12s %14s\n' "daemon(s)" "idle MiB" "after pull MiB"
printf '%-22s %12.1f %14.1f\n' "berthd" "$(echo "$b_idle/1024" | bc -l)" "$(echo "$b_after/1024" | bc -l)"
printf '%-22s %12.1f %14.1f\n' "dockerd" "$(echo "$d_idle/1024" | bc -l)" "$(echo "$d_after/1024" | bc -l)"
printf '%-22s %12.1f %14.1f\n' "containerd" "$(echo "$c_idle/1024" | bc -l)" "$(echo "$c_after/1024" | bc -l)"
printf '%-22s %12.1f %14.1f\n' "dockerd+containerd" "$(echo "($d_idle+$c_idle)/1024" | bc -l)" \
  "$(echo "($d_after+$c_after)/1024" | bc -l)"
printf 'ratio (docker/berth)    %11.2fx %13.2fx\n' "$(echo "($d_idle+$c_idle)/$b_idle" | bc -l)" \
  "$(echo "($d_after+$c_after)/$b_after" | bc -l)"
