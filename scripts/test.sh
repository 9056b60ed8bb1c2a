#!/usr/bin/env bash
# The README's test command: installs and starts what the tests need, then runs
# them. Works on a fresh Debian 12 machine with the Rust toolchain (as root, or
# with sudo). Idempotent: a second run installs nothing and leaves running
# daemons alone. Extra arguments go to `cargo test` (e.g. `-p lamina-host`).
#
# What the tests need beyond Rust:
# - PostgreSQL's initdb/pg_ctl: the host suite runs on SQLite and on a private
#   PostgreSQL cluster (crates/lamina-host/tests/host/pg.rs);
# - pcscd, vsmartcard-vpcd, pcsc-tools, opensc, pyscard: the real-reader tests
#   (crates/lamina-reader/tests/pcscd.rs, crates/lamina/tests/readers.rs).
# A test whose tool is missing fails and names it; none passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "test.sh: not root and no sudo: cannot install packages" >&2; exit 1; }
  SUDO="sudo"
fi


if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

scripts/pcsc-setup.sh

say "cargo test --workspace $*"
exec cargo test --workspace "$@"
