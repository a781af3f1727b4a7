#!/bin/sh
# Build a data directory with the real Python MiniMost 0.0.4, for the migration test.
#
#   make_python_data.sh OUTDIR
#
# Installs minimost==0.0.4 from PyPI into a cached venv (/var/cache/minimost-test/pyorig as
# root, else $TMPDIR/minimost-test-pyorig), runs it on a free loopback port with its data in
# OUTDIR, drives it over HTTP (drive_original.py), stops it, and prints a JSON manifest of what
# it created on stdout. Progress goes to stderr.
#
# Exit status: 0 on success; 3 when PyPI cannot be reached (the caller may skip); 1 otherwise.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 1
fi
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ "$(id -u)" = 0 ]; then
    VENV=/var/cache/minimost-test/pyorig
else
    VENV=${TMPDIR:-/tmp}/minimost-test-pyorig
fi
PYTHON=${PYTHON:-python3}

if ! "$VENV/bin/python" -c 'import minimost' 2>/dev/null; then
    echo "installing minimost==0.0.4 into $VENV" >&2
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV" >&2
    if ! "$VENV/bin/pip" install --disable-pip-version-check -q minimost==0.0.4 >&2; then
        # Tell "no network" apart from a real failure, so the test can skip honestly.
        if ! "$VENV/bin/python" -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/minimost/", timeout=10)' 2>/dev/null; then
            echo "PyPI is unreachable" >&2
            rm -rf "$VENV"
            exit 3
        fi
        echo "pip install minimost==0.0.4 failed" >&2
        exit 1
    fi
fi

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$OUT/.original.log

# Plain HTTP (the original's switch) and no background cleanup while we drive it. The
# original reads settings.json from its package folder, so that is what it runs with.
MINIMOST_DATA_DIR=$OUT MINIMOST_SKIP_TLS=1 MINIMOST_SKIP_CLEANUP=1 \
    "$VENV/bin/python" -m minimost --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
PID=$!
stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}
trap stop EXIT INT TERM

MANIFEST=$OUT/.manifest.json
if ! "$VENV/bin/python" "$HERE/drive_original.py" "http://127.0.0.1:$PORT" "$MANIFEST" >&2; then
    echo "driving the original failed; its log:" >&2
    cat "$LOG" >&2
    exit 1
fi
stop
trap - EXIT INT TERM

# settings.json lives beside the package, not in the data directory; an operator migrating
# copies it along. Copy it with two edits an operator might have made: a changed limit and a
# key this version does not know (the importer must drop it with a warning).
SETTINGS=$("$VENV/bin/python" -c 'import minimost, os; print(os.path.join(os.path.dirname(minimost.__file__), "settings.json"))')
"$VENV/bin/python" - "$SETTINGS" "$OUT/settings.json" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
data["max_upload_size_mb"] = 50
data["legacy_theme"] = "dark"
json.dump(data, open(sys.argv[2], "w"), indent=2)
EOF

cat "$MANIFEST"
