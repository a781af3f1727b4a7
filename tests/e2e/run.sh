#!/bin/bash
# Runs the browser tests: installs Debian's Chromium and the NSS tools if missing (as root with
# apt-get), installs playwright-core from the lock file, builds the daemon if needed, and runs
# every *.test.js with Node's built-in runner (TAP summary on stdout).
#
#   tests/e2e/run.sh            # all browser tests
#   tests/e2e/run.sh app        # only app.test.js
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if ! command -v chromium >/dev/null || ! command -v certutil >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium libnss3-tools >/dev/null
    else
        echo "run.sh: chromium and certutil (libnss3-tools) are needed; install them as root" >&2
        exit 1
    fi
fi

cd "$here"
npm ci --no-audit --no-fund --loglevel=error

if [ -z "${MINIMOST_BIN:-}" ]; then
    (cd "$repo" && cargo build --quiet --bin minimost)
fi

files=()
if [ $# -gt 0 ]; then
    for name in "$@"; do files+=("$here/$name.test.js"); done
else
    files=("$here"/*.test.js)
fi
exec node --test --test-reporter=tap "${files[@]}"
