#!/bin/sh
# Lays out the MiniMost payload under DESTDIR, the same for the .deb and the .rpm:
#   install-tree.sh DESTDIR [UNITDIR]
# UNITDIR is where systemd units go inside DESTDIR (default usr/lib/systemd/system;
# Debian 12's debhelper only handles lib/systemd/system, which merged-/usr maps
# to the same place).
# Inputs (environment, with defaults relative to the source tree):
#   MINIMOST_BIN_DIR   the release binaries   (target/release)
#   MINIMOST_DOCS_DIR  gen-docs output: man/, completions/ (target/release/docs)
#   MINIMOST_ZSH_DIR   zsh completion folder (usr/share/zsh/vendor-completions;
#                      Fedora uses usr/share/zsh/site-functions)
set -eu

dest=${1:?usage: install-tree.sh DESTDIR [UNITDIR]}
unitdir=${2:-usr/lib/systemd/system}
src=$(cd "$(dirname "$0")/.." && pwd)
bin=${MINIMOST_BIN_DIR:-$src/target/release}
docs=${MINIMOST_DOCS_DIR:-$src/target/release/docs}

need() {
    for f in "$@"; do
        if [ ! -e "$f" ]; then
            echo "install-tree.sh: missing $f (run packaging/build.sh)" >&2
            exit 1
        fi
    done
}
need "$bin/minimost" "$bin/minimostctl" "$src/etc/minimost.toml" "$src/LICENSE" "$src/README.md" \
    "$docs/man/minimost.8" "$docs/man/minimostctl.8" "$docs/man/minimost.toml.5" \
    "$docs/completions/minimost.bash" "$docs/completions/minimostctl.bash" \
    "$docs/completions/_minimost" "$docs/completions/_minimostctl" \
    "$docs/completions/minimost.fish" "$docs/completions/minimostctl.fish"

install -Dm0755 "$bin/minimost" "$dest/usr/bin/minimost"
install -Dm0755 "$bin/minimostctl" "$dest/usr/bin/minimostctl"
install -Dm0644 "$src/systemd/minimost.service" "$dest/$unitdir/minimost.service"
install -Dm0644 "$src/systemd/minimost.socket" "$dest/$unitdir/minimost.socket"
install -Dm0644 "$src/etc/minimost.toml" "$dest/etc/minimost/minimost.toml"

for page in minimost.8 minimostctl.8; do
    install -Dm0644 "$docs/man/$page" "$dest/usr/share/man/man8/$page"
done
install -Dm0644 "$docs/man/minimost.toml.5" "$dest/usr/share/man/man5/minimost.toml.5"
gzip -9n "$dest/usr/share/man/man8/minimost.8" "$dest/usr/share/man/man8/minimostctl.8" \
    "$dest/usr/share/man/man5/minimost.toml.5"

for cmd in minimost minimostctl; do
    install -Dm0644 "$docs/completions/$cmd.bash" "$dest/usr/share/bash-completion/completions/$cmd"
    install -Dm0644 "$docs/completions/_$cmd" "$dest/${MINIMOST_ZSH_DIR:-usr/share/zsh/vendor-completions}/_$cmd"
    install -Dm0644 "$docs/completions/$cmd.fish" "$dest/usr/share/fish/vendor_completions.d/$cmd.fish"
done

install -Dm0644 "$src/README.md" "$dest/usr/share/doc/minimost/README.md"
