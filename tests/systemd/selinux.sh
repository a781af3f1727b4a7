#!/bin/bash
# Compiles the SELinux module (selinux/minimost.{te,if,fc}) the way an RPM
# build does: refpolicy's devel Makefile expands the interfaces with m4, then
# checkmodule compiles and semodule_package packs it. Enforcing mode cannot be
# exercised on this Debian machine; this proves the policy builds and declares
# what the package's scriptlets and file contexts rely on.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
devel=/usr/share/selinux/devel/Makefile

if [ ! -f "$devel" ] || ! command -v checkmodule >/dev/null || ! command -v semodule_package >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q selinux-policy-dev checkpolicy semodule-utils >/dev/null
    else
        echo "FAIL: need selinux-policy-dev, checkpolicy and semodule-utils" >&2
        exit 1
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$repo"/selinux/minimost.te "$repo"/selinux/minimost.if "$repo"/selinux/minimost.fc "$work"/
cd "$work"

if ! make -f "$devel" verbose= minimost.pp >build.log 2>&1; then
    cat build.log >&2
    echo "FAIL: selinux module does not compile" >&2
    exit 1
fi
grep -q 'checkmodule' build.log || { echo "FAIL: checkmodule was not run" >&2; exit 1; }
grep -q 'semodule_package' build.log || { echo "FAIL: semodule_package was not run" >&2; exit 1; }
test -s minimost.pp || { echo "FAIL: minimost.pp is empty" >&2; exit 1; }

fail=0
expanded=tmp/minimost.tmp
for t in minimost_t minimost_exec_t minimost_conf_t minimost_var_lib_t minimost_runtime_t minimost_port_t; do
    grep -Eq "^type $t[;,]" "$expanded" || { echo "FAIL: type $t not declared"; fail=1; }
done
# The daemon must never be able to write its own configuration.
if grep -E '^allow minimost_t minimost_conf_t:file' "$expanded" | grep -Eq '\b(write|append|create)\b'; then
    echo "FAIL: minimost_t may write minimost_conf_t files"; fail=1
fi
# File contexts the issue asks for.
for path in '/usr/bin/minimost' '/var/lib/minimost(/.*)?' '/var/lib/private/minimost(/.*)?' '/etc/minimost(/.*)?'; do
    grep -Fq "$path" minimost.fc || { echo "FAIL: no file context for $path"; fail=1; }
done
[ "$fail" = 0 ] || exit 1
echo "selinux: minimost.pp built ($(stat -c %s minimost.pp) bytes) with checkmodule + semodule_package"
