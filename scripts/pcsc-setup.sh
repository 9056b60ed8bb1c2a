#!/usr/bin/env bash
# PC/SC set-up for the tests (called by scripts/test.sh).
#
# Installs the PC/SC daemon, the vsmartcard virtual reader driver (vpcd), the
# PC/SC tools (pcsc_scan, opensc-tool) and pyscard, then makes sure pcscd runs.
# Lamina itself needs none of it to build: it loads libpcsclite.so.1 at run time. Idempotent and quiet: a
# second run installs nothing and leaves a running daemon alone. Fails only on
# real errors (a package that cannot be installed, a daemon that will not start).
#
# The lamina-reader integration tests start their own isolated pcscd (private
# /run/pcscd and loopback, see crates/lamina-reader/tests/pcscd.rs); the system
# daemon started here is for `lamina readers`, pcsc_scan and manual checks.
set -euo pipefail

say() { printf 'pcsc-setup: %s\n' "$*"; }
die() { printf 'pcsc-setup: ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install packages"
  SUDO="sudo"
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${APT_UPDATED:-}" ]; then
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  local log
  log=$(mktemp)
  if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}
pid_of_daemon() { tr -d '\0' <"$PIDFILE" 2>/dev/null || echo '?'; }

# --- packages --------------------------------------------------------------
REQUIRED=(pcscd libpcsclite1 vsmartcard-vpcd pcsc-tools opensc)
missing=()
for p in "${REQUIRED[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
fi

# pyscard: Debian's python3-pyscard serves /usr/bin/python3; if `python3` on the
# PATH is another interpreter (pyenv, venv) without it, build pyscard from PyPI
# (its build needs swig and libpcsclite-dev; Lamina's own build needs neither).
has_pyscard() { "$1" -c 'import smartcard' >/dev/null 2>&1; }
if ! installed python3-pyscard; then
  say "installing python3-pyscard"
  apt_install python3-pyscard || say "python3-pyscard not available from apt; trying PyPI"
fi
if command -v python3 >/dev/null 2>&1 && ! has_pyscard python3 && ! has_pyscard /usr/bin/python3; then
  for p in swig libpcsclite-dev; do
    installed "$p" || apt_install "$p" || die "cannot install $p (needed to build pyscard)"
  done
  say "installing pyscard from PyPI for $(command -v python3)"
  python3 -m pip install -q pyscard >/dev/null || die "pip install pyscard failed"
fi
if ! has_pyscard python3 && ! has_pyscard /usr/bin/python3; then
  die "pyscard is not importable by python3 or /usr/bin/python3"
fi

# --- the daemon ------------------------------------------------------------
SOCK=/run/pcscd/pcscd.comm
PIDFILE=/run/pcscd/pcscd.pid
# Running = the socket answers (pcsc_scan -r exits 0), whoever started it.
running() { [ -S "$SOCK" ] && timeout 10 pcsc_scan -r >/dev/null 2>&1; }
if running; then
  say "pcscd already running"
else
  # A stale socket from a dead daemon blocks the start.
  if [ -e "$SOCK" ] && ! { [ -f "$PIDFILE" ] && kill -0 "$(pid_of_daemon)" 2>/dev/null; }; then
    $SUDO rm -f "$SOCK" "$PIDFILE"
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl start pcscd.socket pcscd.service >/dev/null 2>&1 || true
  fi
  if ! running; then
    $SUDO pcscd >/dev/null 2>&1 || die "pcscd failed to start"
  fi
  for _ in $(seq 50); do running && break; sleep 0.1; done
  running || die "pcscd did not create $SOCK"
  say "pcscd started (pid $(pid_of_daemon))"
fi

# The virtual reader must be visible (vpcd loaded by the daemon).
if ! timeout 10 pcsc_scan -r 2>/dev/null | grep -q "Virtual PCD"; then
  die "pcscd runs but the vpcd virtual reader is missing (check /etc/reader.conf.d/vpcd)"
fi
say "ok: pcscd with the vpcd virtual readers"
