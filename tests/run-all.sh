#!/bin/bash
# Runs every test of the project, installing what the tests need first.
#
#   ./tests/run-all.sh
#
# On Debian 12 as root it installs the packages the suites use (apt-get) and runs: formatting and
# lint gates, the Rust unit and black-box tests, the browser tests (Chromium), the SELinux compile
# test, and the booted-systemd package test. As a non-root user the root-only suites are reported as skipped.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
started=$(date +%s)
results=()
failed=0

step() { printf '\n=== %s\n' "$*"; }
record() { # name, exit code
    if [ "$2" = 0 ]; then results+=("ok    $1"); else results+=("FAIL  $1"); failed=$((failed + 1)); fi
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing test dependencies"
    need=()
    for tool in systemd-analyze:systemd debootstrap:debootstrap systemd-nspawn:systemd-container \
        dpkg-buildpackage:dpkg-dev dh:debhelper rpmbuild:rpm rpmlint:rpmlint lintian:lintian \
        checkmodule:checkpolicy semodule_package:semodule-utils curl:curl openssl:openssl; do
        command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
    done
    [ -f /usr/share/selinux/devel/Makefile ] || need+=(selinux-policy-dev)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
        record "apt-get install ${need[*]}" $?
    fi
fi

step "cargo fmt --check"
cargo fmt --all -- --check
record "cargo fmt --check" $?

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
record "cargo clippy" $?

step "cargo test (unit and black-box tests)"
cargo test --all-targets --locked
record "cargo test" $?

step "browser end-to-end tests (Playwright, Chromium)"
bash tests/e2e/run.sh
record "tests/e2e/run.sh" $?

if [ "$(id -u)" = 0 ]; then
    step "SELinux policy compiles"
    bash tests/systemd/selinux.sh
    record "tests/systemd/selinux.sh" $?

    step "packages install and run under a booted systemd"
    bash tests/systemd/run.sh
    record "tests/systemd/run.sh" $?
else
    results+=("skip  tests/systemd/* (need root)")
fi

step "summary ($(($(date +%s) - started)) s)"
printf '%s\n' "${results[@]}"
passed=$(printf '%s\n' "${results[@]}" | grep -c '^ok')
printf 'suites: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
