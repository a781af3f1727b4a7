// Starts the real `minimost` binary on a free loopback port with a throwaway state directory and
// plain HTTP, for browser tests. Usage: const srv = await startServer(); … await srv.stop();
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
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

export async function startServer({ binary = process.env.MINIMOST_BIN || join(ROOT, 'target/debug/minimost'), settings = '' } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'minimost-e2e-'));
  const config = join(dir, 'minimost.toml');
  writeFileSync(config, `rate_limit_enabled = false\n${settings}\n[server]\nlisten = ["127.0.0.1:${port}"]\n[tls]\nenabled = false\n`);
  const child = spawn(binary, ['--config', config], {
    env: { ...process.env, STATE_DIRECTORY: dir, CONFIGURATION_DIRECTORY: dir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i += 1) {
    try {
      const r = await fetch(`${base}/login`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
