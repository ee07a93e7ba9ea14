#!/usr/bin/env bash
# Make the system services plansim's real runtime needs available on this machine (run as root).
#
#   * apt packages: redis-server (the binary; no system Redis is started), docker.io, debootstrap
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

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else die "run as root (or install sudo)"; fi
fi

# --- apt packages ------------------------------------------------------------------------------
declare -A BIN_OF=([redis-server]=redis-server [docker.io]=dockerd [debootstrap]=debootstrap)
missing=()
for pkg in redis-server docker.io debootstrap; do
  if ! command -v "${BIN_OF[$pkg]}" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/${BIN_OF[$pkg]}" ]]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || die "apt-get update failed"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# --- Docker engine -----------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  mkdir -p "$STATE_DIR"
  LOG_FILE="$STATE_DIR/dockerd.log"
  if [[ -f /var/run/docker.pid ]] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "dockerd is running but not answering yet; waiting"
  else
    log "starting dockerd (log: $LOG_FILE)"
    # containerd is started by dockerd itself when not running.
    $SUDO setsid nohup dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
      >"$LOG_FILE" 2>&1 </dev/null &
    disown || true
  fi
  deadline=$((SECONDS + DOCKER_WAIT_S))
  until docker info >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
      die "Docker engine did not answer within ${DOCKER_WAIT_S}s (see $LOG_FILE). If overlay2 is refused, start dockerd with --storage-driver=vfs (slow: copies the image per container)."
    fi
    sleep 0.5
  done
  log "Docker engine is up"
fi
