#!/usr/bin/env python3
"""Measures start-to-READY=1 and idle memory of the minimost daemon.

    python3 tests/perf/startup.py target/release/minimost [runs]

The first start creates the state (TLS material, database); the measured starts reuse it, as a
restart under systemd does. The time is from fork to the READY=1 datagram on NOTIFY_SOCKET.
Idle RSS is read from /proc after the daemon has served one /healthz request and settled.
"""
import os, socket, statistics, subprocess, sys, tempfile, time, ssl, urllib.request, pwd

binary = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
work = tempfile.mkdtemp(prefix="minimost-startup-")
os.chmod(work, 0o755)
state = os.path.join(work, "state")
notify_path = os.path.join(work, "notify.sock")
extra = ["--user", "nobody"] if os.geteuid() == 0 else []


def start():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(notify_path):
        os.unlink(notify_path)
    sock.bind(notify_path)
    os.chmod(notify_path, 0o666)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, MINIMOST_LOG="warn")
    for k in ("LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM"):
        env.pop(k, None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "--state-dir", state, *extra], env=env,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    while True:
        data = sock.recv(4096).decode()
        if "READY=1" in data:
            break
    elapsed = time.perf_counter() - t0
    sock.close()
    return proc, elapsed


def stop(proc):
    proc.terminate()
    proc.wait(10)


proc, first = start()
stop(proc)
times = []
for _ in range(runs):
    proc, elapsed = start()
    times.append(elapsed)
    stop(proc)
proc, _ = start()
ctx = ssl.create_default_context(cafile=os.path.join(state, "tls", "ca.pem"))
urllib.request.urlopen("https://127.0.0.1:5000/healthz", context=ctx).read()
time.sleep(2)
rss_kib = int([l for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS:")][0].split()[1])
stop(proc)
times.sort()
print(f"first start (creates CA, leaf, database): {first * 1000:.1f} ms")
print(f"start to READY=1 with existing state, {runs} runs: median {statistics.median(times) * 1000:.1f} ms, "
      f"max {max(times) * 1000:.1f} ms")
print(f"idle RSS after one request: {rss_kib / 1024:.1f} MiB")
