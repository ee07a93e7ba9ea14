#!/usr/bin/env bash
# Make the system services plansim's real runtime needs available on this machine (run as root).
#
#   * apt packages: redis-server (the binary; no system Redis is started), docker.io, chromium (the
#     dashboard's real-browser test), debootstrap
#     (used to build an offline base image when no image registry is reachable);
#   * a running Docker engine: when `docker info` fails, dockerd is started in the background with
#     the options known to work on hosts without iptables/bridge support, logging to
#     $PLANSIM_STATE_DIR/dockerd.log (default .plansim/dockerd.log).
#
# Idempotent: installs nothing that is present, starts nothing that already answers.
# Redis is NOT started here: tests start their own server on a free port and
# `plansim runtime up` starts one for interactive use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${PLANSIM_STATE_DIR:-$ROOT/.plansim}"
DOCKER_WAIT_S="${PLANSIM_DOCKER_WAIT_S:-60}"
DOCKER_PIDFILE="${PLANSIM_DOCKER_PIDFILE:-/var/run/docker.pid}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else die "run as root (or install sudo)"; fi
fi

# --- apt packages ------------------------------------------------------------------------------
declare -A BIN_OF=([redis-server]=redis-server [docker.io]=dockerd [debootstrap]=debootstrap [chromium]=chromium)
missing=()
for pkg in redis-server docker.io debootstrap chromium; do
  if ! command -v "${BIN_OF[$pkg]}" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/${BIN_OF[$pkg]}" ]]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || die "apt-get update failed"
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# --- Docker engine -----------------------------------------------------------------------------
# start_dockerd DRIVER: launch dockerd in its own session (it outlives this script); dockerd starts its
# own containerd. Options: no iptables/bridge (not available everywhere); containers use the host network.
start_dockerd() {
  log "starting dockerd --storage-driver=$1 (log: $LOG_FILE)"
  $SUDO setsid nohup dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver="$1" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  DOCKERD_PID=$!
}

# wait_engine PID: 0 when `docker info` answers; 1 when PID exited first; 2 on timeout.
wait_engine() {
  local deadline=$((SECONDS + DOCKER_WAIT_S))
  until docker info >/dev/null 2>&1; do
    if [[ -n "$1" ]] && ! kill -0 "$1" 2>/dev/null; then return 1; fi
    if ((SECONDS >= deadline)); then return 2; fi
    sleep 0.5
  done
}

if ! docker info >/dev/null 2>&1; then
  mkdir -p "$STATE_DIR"
  LOG_FILE="$STATE_DIR/dockerd.log"
  DOCKERD_PID=""
  if [[ -f "$DOCKER_PIDFILE" ]] && kill -0 "$(cat "$DOCKER_PIDFILE")" 2>/dev/null; then
    log "dockerd is running but not answering yet; waiting"
    DOCKERD_PID="$(cat "$DOCKER_PIDFILE")"
  else
    start_dockerd overlay2
  fi
  if wait_engine "$DOCKERD_PID"; then
    rc=0
  else
    rc=$?
  fi
  if [[ $rc == 1 ]]; then
    # overlay2 is refused on some hosts (e.g. inside an overlay filesystem). vfs always works but copies
    # the whole image for every container (cold starts of seconds instead of about 0.15 s).
    log "dockerd exited with overlay2; retrying with the slow vfs driver"
    tail -n 5 "$LOG_FILE" >&2 || true
    start_dockerd vfs
    if wait_engine "$DOCKERD_PID"; then rc=0; else rc=$?; fi
  fi
  if [[ $rc != 0 ]]; then
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "Docker engine did not answer within ${DOCKER_WAIT_S}s (see $LOG_FILE)"
  fi
  log "Docker engine is up"
fi
