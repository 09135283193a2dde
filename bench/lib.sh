# Shared helpers for bench/*.sh (sourced). Everything started here is stopped by pid on exit.
# Env: BERTHD / BERTH (binaries; default: release build), DOCKERD (/usr/sbin/dockerd),
#      DOCKER_CLI (/usr/local/bin/docker), BENCH_DIR (scratch, default a new /tmp/berth-bench.XXXX).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
DOCKER_CLI=${DOCKER_CLI:-$(command -v /usr/local/bin/docker || command -v docker)}
B=${BENCH_DIR:-$(mktemp -d /tmp/berth-bench.XXXXXX)}
mkdir -p "$B"
BENCH_PIDS=()

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

stop_pid() {  # SIGTERM, then SIGKILL after 10 s; only this pid
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

unmount_under() {  # unmount everything mounted below $1, deepest first
  local d=$1
  awk -v d="$d" '$5 == d || index($5, d"/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
  done
}

bench_cleanup() {
  local i
  for (( i=${#BENCH_PIDS[@]}-1; i>=0; i-- )); do stop_pid "${BENCH_PIDS[$i]}"; done
  unmount_under "$B"
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$B"
}
trap bench_cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ensure_berth() {  # sets BERTHD, BERTH (release build in .build-release, shared by all bench scripts, unless given)
  if [ -z "${BERTHD:-}" ] || [ -z "${BERTH:-}" ]; then
    local p
    # Incremental: quick when nothing changed. The product list is what berthd runs beside itself.
    for p in berthd berth berth-runtime berth-monitor; do
      (cd "$ROOT" && swift build -c release --scratch-path .build-release --product "$p" >&2)
    done
    BERTHD=${BERTHD:-$ROOT/.build-release/release/berthd} BERTH=${BERTH:-$ROOT/.build-release/release/berth}
  fi
}

start_registry() {  # sets REG (host:port); storage in $B/registry
  local port; port=$(free_port)
  REG=127.0.0.1:$port
  mkdir -p "$B/registry"
  cat > "$B/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $B/registry}
http:
  addr: $REG
YML
  /usr/bin/docker-registry serve "$B/registry.yml" >"$B/registry.log" 2>&1 </dev/null &
  BENCH_PIDS+=($!)
  for _ in $(seq 100); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "registry did not start"; cat "$B/registry.log" >&2; return 1
}

wait_ping() {  # wait_ping SOCK PID
  for _ in $(seq 300); do
    kill -0 "$2" 2>/dev/null || { log "daemon $2 exited"; return 1; }
    curl -fsS --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "no /_ping on $1"; return 1
}

# start_berthd DIR -> sets BERTHD_PIDNOW, BERTH_SOCK
start_berthd() {
  local d=$1; mkdir -p "$d"
  BERTH_SOCK=$d/berth.sock
  echo '{}' > "$d/daemon.json"
  "$BERTHD" -H "unix://$BERTH_SOCK" --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/berthd.pid" \
    --config-file "$d/daemon.json" --insecure-registry "$REG" >"$d/berthd.log" 2>&1 </dev/null &
  BERTHD_PIDNOW=$!
  BENCH_PIDS+=("$BERTHD_PIDNOW")
  wait_ping "$BERTH_SOCK" "$BERTHD_PIDNOW" || { tail -20 "$d/berthd.log" >&2; return 1; }
}

# start_dockerd DIR -> sets DOCKERD_PIDNOW, CONTAINERD_PIDNOW, DOCKER_SOCK
start_dockerd() {
  local d=$1; mkdir -p "$d"
  DOCKER_SOCK=$d/docker.sock
  echo '{}' > "$d/daemon.json"
  "$DOCKERD" -H "unix://$DOCKER_SOCK" --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    --config-file "$d/daemon.json" --insecure-registry "$REG" --iptables=false --ip6tables=false \
    --bridge=none --ip-masq=false >"$d/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PIDNOW=$!
  BENCH_PIDS+=("$DOCKERD_PIDNOW")
  wait_ping "$DOCKER_SOCK" "$DOCKERD_PIDNOW" || { tail -20 "$d/dockerd.log" >&2; return 1; }
  CONTAINERD_PIDNOW=$(cat "$d/exec/containerd/containerd.pid" 2>/dev/null || true)
  [ -n "$CONTAINERD_PIDNOW" ] && BENCH_PIDS+=("$CONTAINERD_PIDNOW")
  return 0
}

stop_dockerd() {  # stop_dockerd DIR
  stop_pid "$DOCKERD_PIDNOW"
  [ -n "${CONTAINERD_PIDNOW:-}" ] && stop_pid "$CONTAINERD_PIDNOW"
  rm -f "$1/exec/containerd/containerd.pid"
}

rss_kib() {  # VmRSS of a pid in KiB
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}

now() { date +%s.%N; }
