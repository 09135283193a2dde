#!/usr/bin/env bash
# Install everything berth's build and tests need on Debian 12 (run as root). Idempotent:
# apt-get runs only when a package is missing (--force: always), pip only for missing modules.
# Usage: scripts/deps.sh [--force] [--bench]   (--bench adds podman, hyperfine)
set -euo pipefail

force=0 bench=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --bench) bench=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

pkgs=(
  # build: system libraries of the Swift targets
  libarchive-dev libseccomp-dev libisal-dev zlib1g-dev libzstd-dev pkg-config
  # integration tests
  docker-registry busybox-static skopeo apache2-utils openssl runc jq iproute2 tmux zstd curl
  ca-certificates tar gzip util-linux
  # the berth CLI against a real Docker daemon (API 1.41), test_cli_dockerd.py
  docker.io
)
if [ "$bench" = 1 ]; then pkgs+=(podman hyperfine bc); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "$force" = 1 ] || [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: apt-get install ${missing[*]:-(forced)}"
  export DEBIAN_FRONTEND=noninteractive
  # Don't let package scripts start services (docker-registry, docker, podman) on this machine.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
else
  echo "deps: all ${#pkgs[@]} Debian packages present"
fi

# Python modules the integration tests import (normally present on the machine image).
py=${PYTHON:-python3}
pip_missing=()
$py -c 'import pytest' 2>/dev/null || pip_missing+=("pytest")
$py -c 'import docker, sys; sys.exit(0 if docker.__version__ == "7.1.0" else 1)' 2>/dev/null || pip_missing+=("docker==7.1.0")
$py -c 'import requests' 2>/dev/null || pip_missing+=("requests")
$py -c 'import cryptography' 2>/dev/null || pip_missing+=("cryptography")
if [ "${#pip_missing[@]}" -gt 0 ]; then
  echo "deps: pip install ${pip_missing[*]}"
  $py -m pip install -q --disable-pip-version-check "${pip_missing[@]}"
fi

# The docker CLI (client only) used as a reference client of berthd.
if [ ! -x /usr/local/bin/docker ] && ! command -v docker >/dev/null 2>&1; then
  echo "deps: note: no docker CLI found (expected /usr/local/bin/docker); docker CLI tests will fail" >&2
fi
command -v swift >/dev/null 2>&1 || [ -x /opt/swift/usr/bin/swift ] || echo "deps: note: swift not on PATH (/opt/swift/usr/bin)" >&2
echo "deps: ok"
