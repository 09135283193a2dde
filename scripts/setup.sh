#!/usr/bin/env bash
# Set up berth on this machine and run the main job:
#   deps -> build -> /etc/berth -> berthd in the background on unix:///run/berth/berth.sock
#   (data root /var/lib/berth) -> a local docker-registry on a free loopback port -> an image built
#   offline from busybox-static pushed there -> berth pull -> berth images -> berth run (once it exists).
# Usage: scripts/setup.sh [--release] [--no-deps] [--stop]
#   --stop   stop the berthd and registry a previous run started (by their pids) and exit.
# Afterwards: export DOCKER_HOST=unix:///run/berth/berth.sock; berth images; docker images
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
ROOT=$PWD

config=debug deps=1 stop_only=0
for a in "$@"; do
  case "$a" in
    --release) config=release ;;
    --no-deps) deps=0 ;;
    --stop) stop_only=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $a" >&2; exit 2 ;;
  esac
done

RUN=/run/berth SOCK=/run/berth/berth.sock DATA=/var/lib/berth ETC=/etc/berth
STATE=/var/lib/berth-setup   # the setup registry's storage and config
LOG=/var/log/berth
BERTHD_PID=$RUN/setup-berthd.pid REG_PID=$RUN/setup-registry.pid   # pids this script started

stop_pidfile() {  # stop the process in a pidfile: SIGTERM, SIGKILL after 10 s
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

if [ "$stop_only" = 1 ]; then
  stop_pidfile "$BERTHD_PID"; stop_pidfile "$REG_PID"
  echo "setup: stopped berthd and the setup registry"
  exit 0
fi

[ "$deps" = 1 ] && scripts/deps.sh
if [ "$config" = release ]; then scripts/build.sh --release; else scripts/build.sh; fi
BIN=$(swift build -c "$config" --show-bin-path)
BERTH=$BIN/berth BERTHD=$BIN/berthd

mkdir -p "$ETC" "$RUN" "$DATA" "$STATE/registry" "$LOG"
[ -f "$ETC/daemon.json" ] || echo '{}' > "$ETC/daemon.json"
mkdir -p "$ETC/certs.d"

# Restart what an earlier run started (the registry port changes).
stop_pidfile "$BERTHD_PID"; stop_pidfile "$REG_PID"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat > "$STATE/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/registry}
  delete: {enabled: true}
http:
  addr: $REG
YML
nohup /usr/bin/docker-registry serve "$STATE/registry.yml" >"$LOG/setup-registry.log" 2>&1 </dev/null &
echo $! > "$REG_PID"
for _ in $(seq 100); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$REG/v2/" >/dev/null || { echo "setup: registry did not start" >&2; cat "$LOG/setup-registry.log" >&2; exit 1; }
echo "setup: docker-registry on $REG (pid $(cat "$REG_PID"))"

nohup "$BERTHD" -H "unix://$SOCK" --data-root "$DATA" --exec-root "$RUN/exec" --pidfile "$RUN/berthd.pid" \
  --config-file "$ETC/daemon.json" --insecure-registry "$REG" >"$LOG/berthd.log" 2>&1 </dev/null &
bpid=$!
echo "$bpid" > "$BERTHD_PID"
ok=0
for _ in $(seq 300); do
  if ! kill -0 "$bpid" 2>/dev/null; then break; fi
  if curl -fsS --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
if [ "$ok" != 1 ]; then
  echo "setup: berthd did not answer /_ping on $SOCK; log:" >&2
  tail -n 30 "$LOG/berthd.log" >&2 || true
  exit 1
fi
echo "setup: berthd on unix://$SOCK (pid $bpid, data root $DATA)"
export DOCKER_HOST=unix://$SOCK

IMG=$REG/berth/busybox:latest
echo "setup: building busybox-static image offline and pushing $IMG"
python3 scripts/testimage.py --registry "http://$REG" --repo berth/busybox --tag latest --kind busybox
echo "+ berth pull $IMG"
"$BERTH" pull "$IMG"
echo "+ berth images"
"$BERTH" images
if "$BERTH" run --help >/dev/null 2>&1; then
  echo "+ berth run --rm $IMG echo hello from berth"
  "$BERTH" run --rm "$IMG" echo hello from berth
else
  echo "setup: 'berth run' not available yet: skipping the container step"
fi
cat <<TXT
setup: done. berthd (pid $bpid) and the registry (pid $(cat "$REG_PID")) keep running.
  export DOCKER_HOST=unix://$SOCK   # then: $BERTH images / docker images
  scripts/setup.sh --stop           # stops both by pid
TXT
