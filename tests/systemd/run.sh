#!/bin/bash
# The booted-systemd test (issue 7): build the .deb, boot a Debian 12 root
# under systemd-nspawn in its own network namespace, install the package with
# apt and check what an administrator relies on. Every miss is printed as
# "FAIL: …" and makes the script exit 1; the last line is "N passed, N failed".
#
#   sudo tests/systemd/run.sh
#
# Needs root on Debian 12 with network access to deb.debian.org (it installs
# debootstrap, systemd-container and the packaging tools with apt-get).
# Environment:
#   MINIMOST_DEB=path   test this .deb instead of running packaging/build.sh
#   MINIMOST_TEST_CACHE cached debootstrap root (/var/cache/minimost-test/bookworm)
#   KEEP=1              leave the container root behind for inspection
set -uo pipefail

started=$(date +%s.%N)
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${MINIMOST_TEST_CACHE:-/var/cache/minimost-test/bookworm}
# Packages the container needs besides the minimal base; changing this list
# rebuilds the cache.
include=systemd,systemd-sysv,dbus,procps,iproute2,ca-certificates,curl,openssl,python3-minimal
mirror=http://deb.debian.org/debian
port=6767
password='Minimost-Test-2025!'
new_password='Minimost-Reset-2025?'
user=alice

passed=0 failed=0 skipped=0
say() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); say "ok: $*"; }
fail() { failed=$((failed + 1)); say "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); say "SKIP: $*"; }
die() { fail "$*"; finish; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$(id -u)" != 0 ]; then
    echo "tests/systemd/run.sh must run as root (debootstrap, systemd-nspawn)" >&2
    exit 1
fi

# --- host tools -----------------------------------------------------------
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v nsenter >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
        { echo "FAIL: cannot install ${missing[*]}" >&2; exit 1; }
fi

run=$(mktemp -d /var/tmp/minimost-systemd.XXXXXX)
root=$run/root
nspawn_pid=''
pid1=''

teardown() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM asks nspawn to shut the container down cleanly.
        kill -TERM "$nspawn_pid" 2>/dev/null
        for _ in $(seq 1 40); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        say "kept $run"
    else
        rm -rf "$run"
    fi
}
finish() {
    trap - EXIT
    teardown
    say "total run time: $(elapsed "$started") s"
    say "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" = 0 ] && exit 0
    exit 1
}
trap finish EXIT
trap 'exit 130' INT TERM

# --- the package --------------------------------------------------------------
if [ -n "${MINIMOST_DEB:-}" ]; then
    deb=$MINIMOST_DEB
else
    say "building packages with packaging/build.sh"
    "$repo/packaging/build.sh" >"$run/build.log" 2>&1 || { tail -30 "$run/build.log"; die "packaging/build.sh failed"; }
    deb=$(ls -t "$repo"/dist/minimost_*.deb | head -1)
fi
[ -f "$deb" ] || die "no .deb at $deb"
say "package sizes:"
for f in "$deb" "$(dirname "$deb")"/minimost-*.rpm; do
    [ -f "$f" ] && say "    $(basename "$f"): $(du -k --apparent-size "$f" | cut -f1) KiB"
done

# --- the cached Debian 12 root ------------------------------------------------
if [ ! -f "$cache/.minimost-cache" ] || [ "$(cat "$cache/.minimost-cache")" != "$include" ]; then
    say "debootstrap bookworm into $cache (cached for later runs)"
    rm -rf "$cache.tmp" "$cache"
    mkdir -p "$(dirname "$cache")"
    debootstrap --variant=minbase --include="$include" bookworm "$cache.tmp" "$mirror" >"$run/debootstrap.log" 2>&1 ||
        { tail -20 "$run/debootstrap.log"; die "debootstrap failed"; }
    # No login prompt on the console, and a fixed host name.
    ln -sf /dev/null "$cache.tmp/etc/systemd/system/console-getty.service"
    echo minimost-test >"$cache.tmp/etc/hostname"
    printf '127.0.1.1 minimost-test\n' >>"$cache.tmp/etc/hosts"
    echo "$include" >"$cache.tmp/.minimost-cache"
    mv "$cache.tmp" "$cache"
fi
cp -a "$cache" "$root"
cp "$deb" "$root/root/"
debname=$(basename "$deb")

# --- boot ---------------------------------------------------------------------
say "booting the container"
systemd-nspawn --register=no --keep-unit --private-network --machine=minimost-test \
    -b -D "$root" >"$run/console.log" 2>&1 </dev/null &
nspawn_pid=$!
# nspawn's first child only sets the container up; PID 1 of the container is
# the child that becomes systemd.
for _ in $(seq 1 300); do
    for child in $(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null); do
        [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && pid1=$child
    done
    [ -n "$pid1" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$pid1" ] || { cat "$run/console.log"; die "systemd-nspawn did not start a container"; }

# Runs a command inside the container (all of its namespaces), with a clean
# environment so nothing of the host's leaks in.
c() {
    nsenter -t "$pid1" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 HOME=/root "$@"
}
# Wait for boot to finish (the manager's socket may not exist at first).
state=''
for _ in $(seq 1 120); do
    state=$(c systemctl is-system-running 2>/dev/null)
    case $state in running | degraded) break ;; esac
    sleep 0.5
done
case $state in
running | degraded) say "container booted ($state)" ;;
*) tail -30 "$run/console.log"; die "container did not boot (state: ${state:-none})" ;;
esac

url=https://127.0.0.1:$port
# HTTP status of a request made in the container; extra curl arguments follow.
status() { c curl -sk -o /dev/null -w '%{http_code}' "$@"; }
main_pid() { c systemctl show -P MainPID minimost.service; }
prop() { c systemctl show -P "$1" minimost.service; }
wait_healthy() {
    for _ in $(seq 1 "${1:-100}"); do
        [ "$(c curl -sk -m 2 "$url/healthz" 2>/dev/null)" = '{"status":"ok"}' ] && return 0
        sleep 0.1
    done
    return 1
}

# --- install and enable -----------------------------------------------------
t0=$(date +%s.%N)
if c env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/root/$debname" >"$run/apt.log" 2>&1; then
    pass "apt-get install ./$debname"
else
    tail -20 "$run/apt.log"
    die "apt-get install ./$debname failed"
fi
if [ "$(c systemctl is-active minimost.service)" != active ]; then
    pass "installing does not start the daemon before the admin enables it"
else
    fail "the package started the daemon on install"
fi
if c systemctl enable --now minimost >"$run/enable.log" 2>&1; then
    pass "systemctl enable --now minimost"
else
    fail "systemctl enable --now minimost: $(cat "$run/enable.log")"
fi
if wait_healthy 300; then
    pass "GET /healthz answers {\"status\":\"ok\"}"
    first_response=$(elapsed "$t0")
    say "install-to-first-response: $first_response s"
else
    fail "GET /healthz did not answer within 30 s"
    c journalctl -u minimost --no-pager -n 30
fi
for u in minimost.service minimost.socket; do
    e=$(c systemctl is-enabled "$u") a=$(c systemctl is-active "$u")
    [ "$e" = enabled ] && [ "$a" = active ] && pass "$u enabled and active" ||
        fail "$u is $e / $a, expected enabled / active"
done

# --- socket activation --------------------------------------------------------
c systemctl stop minimost.service 2>/dev/null
if [ "$(c systemctl is-active minimost.service)" = inactive ] &&
    [ "$(c systemctl is-active minimost.socket)" = active ] &&
    c ss -Hltn "sport = :$port" | grep -q LISTEN; then
    pass "after stopping the service the socket still listens on $port"
else
    fail "after stopping the service: service $(c systemctl is-active minimost.service), socket $(c systemctl is-active minimost.socket)"
fi
code=$(status -m 20 "$url/healthz")
if [ "$code" = 200 ] && [ "$(c systemctl is-active minimost.service)" = active ]; then
    pass "the first HTTPS request starts the service again"
else
    fail "request to the stopped service gave $code, service $(c systemctl is-active minimost.service)"
fi

# --- identity and privileges ---------------------------------------------------
pid=$(main_pid)
uid=$(c awk '/^Uid:/ {print $2}' "/proc/$pid/status")
if [ -n "$uid" ] && [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ]; then
    pass "daemon runs as dynamic uid $uid"
else
    fail "daemon uid is '${uid}', expected a DynamicUser uid (61184-65519)"
fi
caps=$(c grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "/proc/$pid/status" | awk '{print $2}' | sort -u)
if [ "$caps" = 0000000000000000 ]; then
    pass "daemon has an empty capability set (inheritable, permitted, effective, bounding, ambient)"
else
    fail "daemon capabilities: $(c grep ^Cap "/proc/$pid/status" | tr '\n' ' ')"
fi

# --- state directory -----------------------------------------------------------
link=$(c readlink /var/lib/minimost)
if [ "$link" = private/minimost ] || [ "$link" = /var/lib/private/minimost ]; then
    pass "/var/lib/minimost links to /var/lib/private/minimost"
else
    fail "/var/lib/minimost -> '$link'"
fi
owner=$(c stat -c %u /var/lib/private/minimost)
files=$(c find /var/lib/private/minimost -type f | wc -l)
if [ "$owner" = "$uid" ] && [ "$files" -gt 0 ]; then
    pass "the state directory holds $files files owned by the daemon"
else
    fail "state directory owner $owner (daemon $uid), $files files"
fi

# --- TLS: /ca.pem verifies the served certificate -------------------------------
if c curl -sk -o /root/ca.pem "$url/ca.pem" &&
    c curl -sf -o /dev/null --cacert /root/ca.pem "https://localhost:$port/healthz"; then
    pass "/ca.pem verifies the certificate served for localhost"
else
    fail "the certificate does not verify against /ca.pem: $(c curl -sS -o /dev/null --cacert /root/ca.pem "https://localhost:$port/healthz" 2>&1)"
fi

# --- STUN -------------------------------------------------------------------------
stun=$(c python3 - <<'EOF' 2>&1
import os, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.bind(("127.0.0.1", 0))
tid = os.urandom(12)
s.sendto(struct.pack("!HHI", 1, 0, 0x2112A442) + tid, ("127.0.0.1", 3478))
data, _ = s.recvfrom(2048)
kind, length, cookie = struct.unpack("!HHI", data[:8])
assert kind == 0x0101 and cookie == 0x2112A442 and data[8:20] == tid, data.hex()
attr, alen, _, family, xport = struct.unpack("!HHBBH", data[20:28])
assert attr == 0x20 and family == 1, data.hex()
addr = struct.unpack("!I", data[28:32])[0] ^ 0x2112A442
port = xport ^ 0x2112
assert (socket.inet_ntoa(struct.pack("!I", addr)), port) == s.getsockname(), (addr, port)
print("mapped", socket.inet_ntoa(struct.pack("!I", addr)), port)
EOF
)
[[ $stun == mapped* ]] && pass "STUN on 3478 answers with the client's address ($stun)" || fail "STUN: $stun"

# --- an account, so the checks below can log in ---------------------------------
# Prints the csrf_token of the form at $1, keeping the pre-login cookie in jar $2.
csrf() {
    c curl -sk -c "$2" -b "$2" "$url$1" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1
}
token=$(csrf /signup /root/jar)
code=$(c curl -sk -o /dev/null -w '%{http_code} %{redirect_url}' -c /root/jar -b /root/jar \
    --data-urlencode "username=$user" --data-urlencode "password=$password" \
    --data-urlencode "confirm_password=$password" --data-urlencode "csrf_token=$token" "$url/signup")
[[ $code == 302* ]] && pass "signed up $user" || fail "POST /signup gave '$code' (csrf '${token}')"

# --- journal ------------------------------------------------------------------------
c journalctl -u minimost.service -o json --no-pager >"$run/journal.json" 2>/dev/null
native=$(grep -c '"_TRANSPORT":"journal"' "$run/journal.json")
if [ "$native" -gt 0 ] && grep -q '"REQUEST_ID":' "$run/journal.json"; then
    pass "the journal holds $native native records from the daemon, with REQUEST_ID fields"
else
    hint=''
    grep -q '"F_REQUEST_ID":' "$run/journal.json" &&
        hint=" (found F_REQUEST_ID: tracing-journald's default field prefix is still on)"
    fail "journal: $native native records, none with a REQUEST_ID field$hint"
fi

# --- reload --------------------------------------------------------------------------
pid=$(main_pid)
c sh -c "cp /etc/minimost/minimost.toml /root/minimost.toml.orig &&
    { echo 'channels = [\"general\", \"software\", \"firmware\", \"systems\", \"off-topic\", \"launch-room\"]';
      cat /root/minimost.toml.orig; } >/etc/minimost/minimost.toml"
if c systemctl reload minimost >"$run/reload.log" 2>&1; then
    channels=$(c curl -sk -b /root/jar "$url/channels")
    if [[ $channels == *'"launch-room"'* ]] && [ "$(main_pid)" = "$pid" ]; then
        pass "systemctl reload applies a new channel with the same MainPID ($pid)"
    else
        fail "after reload: /channels = $channels, MainPID $(main_pid) (was $pid)"
    fi
else
    fail "systemctl reload minimost: $(cat "$run/reload.log")"
fi

# --- watchdog ----------------------------------------------------------------------
restarts=$(prop NRestarts)
pid=$(main_pid)
c kill -STOP "$pid"
recovered=''
for _ in $(seq 1 90); do
    sleep 1
    if [ "$(prop NRestarts)" -gt "$restarts" ] && [ "$(main_pid)" != "$pid" ] && [ "$(main_pid)" != 0 ] &&
        [ "$(c systemctl is-active minimost.service)" = active ]; then
        recovered=yes
        break
    fi
done
if [ -n "$recovered" ]; then
    pass "a stopped daemon is killed by the watchdog and restarted (NRestarts $restarts -> $(prop NRestarts))"
else
    fail "watchdog: NRestarts $restarts -> $(prop NRestarts), MainPID $pid -> $(main_pid)"
    c kill -CONT "$pid" 2>/dev/null
fi
wait_healthy 100 || fail "daemon not healthy after the watchdog restart"

# --- minimostctl ----------------------------------------------------------------------
if c minimostctl status >"$run/status.txt" 2>&1; then
    pass "minimostctl status: $(tr '\n' ' ' <"$run/status.txt" | cut -c1-150)"
else
    fail "minimostctl status: $(cat "$run/status.txt")"
fi
login_password=$password
if ! c minimostctl reset-password --help >/dev/null 2>&1; then
    skip "minimostctl reset-password: not implemented yet"
else
    out=$(c minimostctl reset-password "$user" 2>&1)
    link=$(printf '%s\n' "$out" | sed -n '2p')
    path=/${link#*://*/}
    page=$(c curl -sk -c /root/rjar -b /root/rjar "$url$path")
    if [[ $link == https://*/reset-password/* ]] && [[ $page == *'Set new password'* ]]; then
        token=$(printf '%s' "$page" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
        done_page=$(c curl -sk -c /root/rjar -b /root/rjar --data-urlencode "password=$new_password" \
            --data-urlencode "confirm_password=$new_password" --data-urlencode "csrf_token=$token" "$url$path")
        if [[ $done_page == *'Password updated'* ]]; then
            pass "minimostctl reset-password prints a working URL ($link)"
            login_password=$new_password
        else
            fail "the reset form did not accept a new password"
        fi
    else
        fail "minimostctl reset-password printed: $out"
    fi
fi

# --- persistence across restart -----------------------------------------------------------
c systemctl restart minimost.service
wait_healthy 100 || fail "daemon not healthy after restart"
token=$(csrf /login /root/ljar)
code=$(c curl -sk -o /dev/null -w '%{http_code} %{redirect_url}' -c /root/ljar -b /root/ljar \
    --data-urlencode "username=$user" --data-urlencode "password=$login_password" \
    --data-urlencode "csrf_token=$token" "$url/login")
if [[ $code == 302* ]] && [[ $code != *login* ]]; then
    pass "the signed-up user logs in after a restart"
else
    fail "login after restart gave '$code'"
    c journalctl -u minimost.service --no-pager -n 15 -o cat
fi

# --- exposure inside the container ---------------------------------------------------------
exposure=$(c systemd-analyze security --no-pager minimost.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for minimost.service: \([0-9.]*\).*/\1/p')
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 1.0) }'; then
    pass "systemd-analyze security minimost.service: $exposure"
else
    fail "exposure inside the container is '${exposure}', expected <= 1.0"
fi

# --- remove keeps state, purge removes everything --------------------------------------------
c env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q minimost >"$run/remove.log" 2>&1 ||
    fail "apt-get remove minimost: $(tail -5 "$run/remove.log")"
if c test -d /var/lib/private/minimost; then
    pass "apt-get remove keeps /var/lib/private/minimost"
else
    fail "apt-get remove deleted the state directory"
fi
c env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q minimost >"$run/purge.log" 2>&1 ||
    fail "apt-get purge minimost: $(tail -5 "$run/purge.log")"
sleep 1
leftovers=''
c pgrep -x minimost >/dev/null && leftovers+=" process"
c systemctl cat minimost.service >/dev/null 2>&1 && leftovers+=" minimost.service"
c systemctl cat minimost.socket >/dev/null 2>&1 && leftovers+=" minimost.socket"
[ -n "$(c systemctl list-units --all --plain --no-legend 'minimost*')" ] && leftovers+=" loaded-unit"
c ss -Hlntu | grep -Eq ":($port|3478)\b" && leftovers+=" open-port"
for p in /var/lib/private/minimost /var/lib/minimost /etc/minimost /usr/bin/minimost; do
    c test -e "$p" && leftovers+=" $p"
done
if [ -z "$leftovers" ]; then
    pass "stop and purge leave no process, unit, port, state or config"
else
    fail "after purge these remain:$leftovers"
fi

say "exposure (in container): ${exposure:-unknown}; install-to-first-response: ${first_response:-unknown} s"
finish
