// Starts the real `minimost` binary on a free loopback port with a throwaway state directory and
// plain HTTP, for browser tests. Usage: const srv = await startServer(); … await srv.stop();
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chownSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

function logFile(port) {
  const dir = join(ROOT, 'tests/e2e/artifacts');
  mkdirSync(dir, { recursive: true });
  return openSync(join(dir, `server-${port}.log`), 'a');
}

export async function startServer({ binary = process.env.MINIMOST_BIN || join(ROOT, 'target/debug/minimost'), settings = '', env = {} } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'minimost-e2e-'));
  const config = join(dir, 'minimost.toml');
  writeFileSync(config, `rate_limit_enabled = false\n${settings}\n[server]\nlisten = ["127.0.0.1:${port}"]\npublic_base_url = "http://127.0.0.1:${port}"\n[tls]\nenabled = false\n`);
  const args = ['--config', config, '--state-dir', dir];
  // The daemon refuses to keep root: as root (CI containers) it binds, then drops to `nobody`,
  // which must own the throwaway state directory.
  if (process.getuid && process.getuid() === 0) {
    chownSync(dir, 65534, 65534);
    args.push('--user', 'nobody');
  }
  const child = spawn(binary, args, {
    env: { ...process.env, ...env, STATE_DIRECTORY: dir, CONFIGURATION_DIRECTORY: dir },
    // The daemon's log goes to an artifact file, so test output stays readable and failures
    // can be read afterwards.
    stdio: ['ignore', logFile(port), logFile(port)],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i += 1) {
    try {
      // Any HTTP answer means it is serving; /sw.js is one of the first routes to exist.
      const r = await fetch(`${base}/sw.js`);
      if (r.status) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let exited = false;
  child.once('exit', () => { exited = true; });
  return {
    base,
    dir,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
