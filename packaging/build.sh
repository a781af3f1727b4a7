#!/bin/bash
# Builds both packages from one release build:
#   dist/minimost_<version>_<arch>.deb
#   dist/minimost-<version>-<release>.<arch>.rpm  (+ minimost-selinux-….noarch.rpm)
# then runs lintian and rpmlint on them and fails on any error.
#
# Usage: packaging/build.sh            (as root on Debian 12 it installs the
#                                       packaging tools it lacks with apt-get)
# Environment: SKIP_LINT=1 skips lintian/rpmlint.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# --- versions: Cargo.toml is the source of truth -------------------------
version=$(awk -F'"' '/^\[package\]/{p=1; next} /^\[/{p=0} p && /^version *=/{print $2; exit}' Cargo.toml)
[ -n "$version" ] || die "cannot read the package version from Cargo.toml"
deb_version=$(sed -n '1s/^minimost (\([^)]*\)).*/\1/p' debian/changelog)
[ "$deb_version" = "$version" ] ||
    die "debian/changelog is at $deb_version but Cargo.toml at $version: add a changelog entry"
rpm_version=$(awk '/^Version:/{print $2; exit}' rpm/minimost.spec)
[ "$rpm_version" = "$version" ] ||
    die "rpm/minimost.spec Version: is $rpm_version but Cargo.toml is $version"
rpm_release=$(awk '/^Release:/{sub(/%.*/, "", $2); print $2; exit}' rpm/minimost.spec)

[ -f examples/gen-docs.rs ] ||
    die "examples/gen-docs.rs is missing: the man pages and completions cannot be generated (packaging/gen-docs.rs moves there once Cargo.toml has the clap_mangen and clap_complete dev-dependencies)"
[ -f etc/minimost.toml ] || die "etc/minimost.toml is missing: the package ships it as the config"

# --- tools ---------------------------------------------------------------
need_pkgs=()
command -v dpkg-buildpackage >/dev/null || need_pkgs+=(dpkg-dev)
command -v dh >/dev/null || need_pkgs+=(debhelper)
command -v rpmbuild >/dev/null || need_pkgs+=(rpm)
[ -f /usr/share/selinux/devel/Makefile ] || need_pkgs+=(selinux-policy-dev)
command -v checkmodule >/dev/null || need_pkgs+=(checkpolicy)
command -v semodule_package >/dev/null || need_pkgs+=(semodule-utils)
if [ "${SKIP_LINT:-0}" != 1 ]; then
    command -v lintian >/dev/null || need_pkgs+=(lintian)
    command -v rpmlint >/dev/null || need_pkgs+=(rpmlint)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
        die "missing tools; install the Debian packages: ${need_pkgs[*]}"
    log "installing ${need_pkgs[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- the one release build -------------------------------------------------
# MINIMOST_BIN_DIR + MINIMOST_DOCS_DIR given: package those instead (used to
# repackage a build made elsewhere; both packages still get the same files).
if [ -n "${MINIMOST_BIN_DIR:-}" ] && [ -n "${MINIMOST_DOCS_DIR:-}" ]; then
    bin_dir=$MINIMOST_BIN_DIR docs_dir=$MINIMOST_DOCS_DIR
    log "packaging prebuilt binaries from $bin_dir"
else
    log "cargo build --release --locked (minimost $version)"
    cargo build --release --locked --bins --example gen-docs
    bin_dir=$repo/target/release
    docs_dir=$repo/target/release/docs
    rm -rf "$docs_dir"
    "$bin_dir/examples/gen-docs" "$docs_dir"
fi

# --- a scratch source tree, so package tools never write into the repo ------
work=$repo/target/packaging
src=$work/minimost-$version
rm -rf "$work"
mkdir -p "$src" "$repo/dist"
cp -a debian packaging rpm selinux systemd etc README.md LICENSE Cargo.toml "$src"/
rm -rf "$src/debian/minimost" "$src/debian/.debhelper" "$src/debian/files"
export MINIMOST_BIN_DIR=$bin_dir MINIMOST_DOCS_DIR=$docs_dir

# --- .deb ---------------------------------------------------------------------
log "building the .deb"
(cd "$src" && dpkg-buildpackage -b -us -uc --no-pre-clean >"$work/deb.log" 2>&1) ||
    { tail -40 "$work/deb.log" >&2; die "dpkg-buildpackage failed (full log: $work/deb.log)"; }
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=dist/minimost_${version}_${arch}.deb
mv "$work/minimost_${version}_${arch}.deb" "$deb"

# --- .rpm ---------------------------------------------------------------------
log "building the .rpm"
top=$work/rpmbuild
mkdir -p "$top/SOURCES"
tar -czf "$top/SOURCES/minimost-$version.tar.gz" -C "$work" "minimost-$version"
rpm_args=(--define "_topdir $top" --define "minimost_bin_dir $bin_dir" --define "minimost_docs_dir $docs_dir"
    --define "_build_id_links none" --define "debug_package %{nil}" --define "_docdir_fmt %%{NAME}")
if [ -z "$(rpm --eval '%{?systemd_post:yes}')" ]; then
    # No systemd-rpm-macros here (Debian): load our stand-ins.
    rpm_args+=(--load "$repo/packaging/rpm-macros.systemd")
fi
rpmbuild -bb --nodeps "${rpm_args[@]}" rpm/minimost.spec >"$work/rpm.log" 2>&1 ||
    { tail -40 "$work/rpm.log" >&2; die "rpmbuild failed (full log: $work/rpm.log)"; }
rpm_arch=$(rpm --eval '%{_arch}')
rpm_file=dist/minimost-$version-$rpm_release.$rpm_arch.rpm
mv "$top/RPMS/$rpm_arch/minimost-$version-$rpm_release.$rpm_arch.rpm" "$rpm_file"
mv "$top/RPMS/noarch/minimost-selinux-$version-$rpm_release.noarch.rpm" dist/

# --- lint -----------------------------------------------------------------------
if [ "${SKIP_LINT:-0}" != 1 ]; then
    log "lintian $deb"
    lintian --fail-on error "$deb" ||
        die "lintian reports errors"
    log "rpmlint"
    rpmlint -c packaging/rpmlint.toml "$rpm_file" dist/minimost-selinux-"$version"-"$rpm_release".noarch.rpm ||
        die "rpmlint reports errors"
fi

log "packages:"
ls -l "$deb" "$rpm_file" dist/minimost-selinux-"$version"-"$rpm_release".noarch.rpm |
    awk '{printf "    %s  %8.1f KiB\n", $NF, $5/1024}'
