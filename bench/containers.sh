#!/usr/bin/env bash
# Container life cycle: berth vs Docker vs Podman, side by side in one run (loopback registry, no network).
#  1. `run --rm --network none IMG true` (hyperfine): create + attach + start + exit + remove.
#  2. N x `run -d --network none IMG sleep 600`, one after another (timed loop).
#  3. `ps` with those N running (hyperfine).
#  4. daemon RSS with N running: berthd; dockerd + containerd (Podman has no daemon), and the
#     per-container supervisors (berth-monitor / containerd-shim / conmon).
# The image is busybox from Debian's busybox-static, pushed to a private docker-registry and pulled
# by each engine. Everything is removed afterwards by id/pid (containers, daemons, mounts, cgroups).
# Usage: bench/containers.sh [--runs 50] [--count 50] [--engines berth,docker,podman] [--no-deps]
# Env: BERTHD/BERTH (default: an up-to-date release build in .build-release).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

runs=50 count=50 engines=berth,docker,podman deps=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --count) count=$2; shift ;;
    --engines) engines=$2; shift ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$deps" = 1 ] && "$ROOT/scripts/deps.sh" --bench >&2
has() { [[ ,$engines, == *,$1,* ]]; }
has berth && ensure_berth

PODMAN_ROOT=$B/podman
# Cgroups: remember the top-level ones so that new ones (docker/, libpod_parent/) can be removed.
CG_BEFORE=$(ls -d /sys/fs/cgroup/*/* /sys/fs/cgroup/* 2>/dev/null | sort)
CLEAN_IDS=()   # "engine id" of containers still to remove
rm_all() {  # rm_all ENGINE ID... (podman: no 10 s stop timeout)
  local e=$1; shift
  if [ "$e" = podman ]; then podman_cli rm -f -t 0 "$@" >/dev/null; else "${e}_cli" rm -f "$@" >/dev/null; fi
}
containers_cleanup() {
  local e
  for e in berth docker podman; do
    local ids=()
    for x in "${CLEAN_IDS[@]}"; do [ "${x%% *}" = "$e" ] && ids+=("${x#* }"); done
    [ ${#ids[@]} -gt 0 ] && rm_all "$e" "${ids[@]}" >/dev/null 2>&1 || true
  done
  CLEAN_IDS=()
  if has podman; then podman_cli system reset -f >/dev/null 2>&1 || true; fi
  bench_cleanup
  # New cgroups left empty by the engines (never one that existed before, never a non-empty one).
  comm -13 <(echo "$CG_BEFORE") <(ls -d /sys/fs/cgroup/*/* /sys/fs/cgroup/* 2>/dev/null | sort) | while read -r cg; do
    [ -d "$cg" ] && [ -e "$cg/cgroup.procs" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
trap containers_cleanup EXIT INT TERM

start_registry
IMG=$REG/bench/busybox:latest
python3 "$ROOT/scripts/testimage.py" --registry "http://$REG" --repo bench/busybox --kind busybox >/dev/null

berth_cli() { env DOCKER_HOST="unix://$BERTH_SOCK" "$BERTH" "$@"; }
docker_cli() { env DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_CLI" "$@"; }
podman_cli() {
  podman --root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/run" --tmpdir "$PODMAN_ROOT/tmp" \
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"
}
# Podman sets RLIMIT_NPROC/NOFILE to its own maxima, which this host (no CAP_SYS_RESOURCE) refuses.
PODMAN_RUN_OPTS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

if has berth; then start_berthd "$B/berth"; berth_cli pull -q "$IMG" >/dev/null; fi
if has docker; then start_dockerd "$B/docker"; docker_cli pull -q "$IMG" >/dev/null; fi
if has podman; then mkdir -p "$PODMAN_ROOT/tmp"; podman_cli pull -q --tls-verify=false "$IMG" >/dev/null; fi

# Self-contained command lines for hyperfine -N (no shell functions).
cmd() {
  case $1 in
    berth) echo "env DOCKER_HOST=unix://$BERTH_SOCK $BERTH" ;;
    docker) echo "env DOCKER_HOST=unix://$DOCKER_SOCK $DOCKER_CLI" ;;
    podman) echo "podman --root $PODMAN_ROOT/root --runroot $PODMAN_ROOT/run --tmpdir $PODMAN_ROOT/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file" ;;
  esac
}
run_opts() { [ "$1" = podman ] && echo "${PODMAN_RUN_OPTS[*]}" || true; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

IFS=, read -r -a engs <<<"$engines"
for e in "${engs[@]}"; do  # sanity: each engine runs the image
  out=$($(cmd "$e") run --rm --network none $(run_opts "$e") "$IMG" echo ok 2>&1) || true
  [ "$out" = ok ] || { log "$e cannot run $IMG: $out"; exit 1; }
done
# Podman finishes a container's clean-up in background processes (conmon, `podman container
# cleanup`): let them end before anything is timed.
sleep 3

log "load average before run --rm: $(loadavg)"
hargs=()
for e in "${engs[@]}"; do hargs+=(-n "$e run --rm" "$(cmd "$e") run --rm --network none $(run_opts "$e") $IMG true"); done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$B/run.json" "${hargs[@]}" >&2
load_run=$(loadavg)

declare -A loop_s ps_json rss_daemon rss_sup
sup_rss_kib() {  # sum VmRSS of the supervisors of this run's containers (cmdline mentions $B)
  local total=0 p comm
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    case $comm in berth-monitor|conmon|containerd-shim*) ;; *) continue ;; esac
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$B" || continue
    total=$(( total + $(rss_kib "${p#/proc/}") ))
  done
  echo "$total"
}
for e in "${engs[@]}"; do
  log "$e: $count x run -d (load $(loadavg))"
  c=$(cmd "$e") o=$(run_opts "$e")
  t0=$(now)
  for i in $(seq "$count"); do
    id=$($c run -d --network none $o "$IMG" sleep 600)
    CLEAN_IDS+=("$e $id")
  done
  t1=$(now)
  loop_s[$e]=$(echo "$t1 - $t0" | bc)
  n=$($c ps -q | wc -l)
  [ "$n" -eq "$count" ] || log "WARNING: $e ps lists $n running containers, expected $count"
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$B/ps-$e.json" -n "$e ps" "$c ps" >&2
  sleep 2
  case $e in
    berth) rss_daemon[$e]=$(rss_kib "$BERTHD_PIDNOW") ;;
    docker) rss_daemon[$e]=$(( $(rss_kib "$DOCKERD_PIDNOW") + $(rss_kib "${CONTAINERD_PIDNOW:-0}") )) ;;
    podman) rss_daemon[$e]=0 ;;
  esac
  rss_sup[$e]=$(sup_rss_kib)
  ids=()
  for x in "${CLEAN_IDS[@]}"; do [ "${x%% *}" = "$e" ] && ids+=("${x#* }"); done
  rm_all "$e" "${ids[@]}"
  rest=()
  for x in "${CLEAN_IDS[@]}"; do [ "${x%% *}" = "$e" ] || rest+=("$x"); done
  CLEAN_IDS=("${rest[@]}")
done

echo
echo "Containers: $IMG, $(nproc) CPUs, load average $load_run after run --rm, $(loadavg) at the end"
python3 - "$B" "$count" "${engs[@]}" <<PY
import json, sys
d, count, engs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
loop = {$(for e in "${engs[@]}"; do printf '"%s": %s,' "$e" "${loop_s[$e]}"; done)}
rssd = {$(for e in "${engs[@]}"; do printf '"%s": %s,' "$e" "${rss_daemon[$e]}"; done)}
rsss = {$(for e in "${engs[@]}"; do printf '"%s": %s,' "$e" "${rss_sup[$e]}"; done)}
run = {r["command"].split()[0]: r for r in json.load(open(f"{d}/run.json"))["results"]}
ps = {e: json.load(open(f"{d}/ps-{e}.json"))["results"][0] for e in engs}
def ratio(v, e, base):
    return "" if e == "berth" or "berth" not in base or not base["berth"] else f" ({v / base['berth']:.1f}x)"
print(f"{'':34}" + "".join(f"{e:>22}" for e in engs))
def row(label, vals, fmt):
    print(f"{label:34}" + "".join(f"{(fmt(vals[e]) + ratio(vals[e], e, vals)):>22}" for e in engs))
row("run --rm true, mean ms", {e: run[e]["mean"] * 1000 for e in engs}, lambda v: f"{v:.1f}")
row("run --rm true, median ms", {e: run[e]["median"] * 1000 for e in engs}, lambda v: f"{v:.1f}")
row("run --rm true, min ms", {e: run[e]["min"] * 1000 for e in engs}, lambda v: f"{v:.1f}")
row(f"{count} x run -d, total s", loop, lambda v: f"{v:.2f}")
row(f"ps with {count} running, mean ms", {e: ps[e]["mean"] * 1000 for e in engs}, lambda v: f"{v:.1f}")
row(f"daemon RSS, {count} running, MiB", {e: rssd[e] / 1024 for e in engs}, lambda v: f"{v:.1f}")
row(f"supervisors RSS, {count} running, MiB", {e: rsss[e] / 1024 for e in engs}, lambda v: f"{v:.1f}")
if "berth" in run:
    # issue 4's targets (a quiet machine is assumed: see the load average above)
    checks = [("run --rm mean <= 40 ms", run["berth"]["mean"] * 1000 <= 40),
              (f"{count} x run -d <= 2 s", loop["berth"] <= 2.0),
              (f"ps with {count} running <= 30 ms", ps["berth"]["mean"] * 1000 <= 30),
              (f"berthd RSS with {count} running <= 30 MiB", rssd["berth"] / 1024 <= 30)]
    if "podman" in run:
        r = run["berth"]["mean"] / run["podman"]["mean"]
        checks.insert(1, (f"run --rm <= 0.15x podman (is {r:.3f}x)", r <= 0.15))
    for name, ok in checks:
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
PY
