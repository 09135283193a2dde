#!/bin/sh
# Benchmarks berth-runtime against runc: `run` (create + start + wait + delete) of a busybox `true`
# bundle with Docker's default spec (default seccomp profile on), side by side with hyperfine.
# Also prints one traced run (where the time goes) and the in-process supervision cost.
#
#   bench/runtime.sh            # builds berth-runtime first (release, in .build-release; Package.swift
#                               # links it statically with the Swift runtime and Foundation, like the product)
#   BERTH_RUNTIME=/path bench/runtime.sh   # use that binary instead
#   RUNS=100 bench/runtime.sh
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 1; }
command -v runc >/dev/null || { echo "runc is missing: apt-get install -y runc" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "busybox-static is missing: apt-get install -y busybox-static" >&2; exit 1; }
if [ -z "${BERTH_RUNTIME:-}" ]; then
    swift build -c release --scratch-path .build-release --product berth-runtime >/dev/null
    BERTH_RUNTIME=$(pwd)/.build-release/release/berth-runtime
fi

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
    "$BERTH_RUNTIME" --root "$WORK/berth-root" delete --force bench-berth >/dev/null 2>&1 || true
    runc --root "$WORK/runc-root" delete --force bench-runc >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/bundle/rootfs/bin" "$WORK/bundle/rootfs/proc" "$WORK/bundle/rootfs/sys" "$WORK/bundle/rootfs/dev" \
         "$WORK/bundle/rootfs/etc" "$WORK/bundle/rootfs/tmp"
cp /bin/busybox "$WORK/bundle/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$WORK/bundle/rootfs/bin/$a"; done
"$BERTH_RUNTIME" spec --bundle "$WORK/bundle"
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["linux"]["cgroupsPath"] = "/berth-bench/bench"
assert c["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
json.dump(c, open(p, "w"))
PY

B="$BERTH_RUNTIME --root $WORK/berth-root run --bundle $WORK/bundle bench-berth"
R="runc --root $WORK/runc-root run --bundle $WORK/bundle bench-runc"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/h.json" -n berth-runtime "$B" -n runc "$R"
python3 - "$WORK/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b, c = r["berth-runtime"], r["runc"]
print(f"berth-runtime run: mean {b['mean']*1000:.1f} ms (median {b['median']*1000:.1f}, min {b['min']*1000:.1f}), "
      f"user+sys {(b['user']+b['system'])*1000:.1f} ms")
print(f"runc run:          mean {c['mean']*1000:.1f} ms (median {c['median']*1000:.1f}, min {c['min']*1000:.1f}), "
      f"user+sys {(c['user']+c['system'])*1000:.1f} ms")
print(f"ratio runc/berth: {c['mean']/b['mean']:.2f}x (mean), {c['median']/b['median']:.2f}x (median)")
PY

echo "--- one traced run (BERTH_TRACE=1) ---"
BERTH_TRACE=1 $B
echo "--- in-process supervision (BerthRuntime, the daemon's path) ---"
"$BERTH_RUNTIME" --root "$WORK/berth-root" supervise-bench --bundle "$WORK/bundle" -c 20
rmdir /sys/fs/cgroup/*/berth-bench 2>/dev/null || true
