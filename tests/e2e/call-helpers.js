// Pieces shared by the call tests and the call measurement: Chromium's fake media flags, a free
// UDP port for each server's STUN socket, and the daemon's count of STUN answers.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

export const MEDIA_ARGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'];

export function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.on('error', reject);
    socket.bind(0, '127.0.0.1', () => { const { port } = socket.address(); socket.close(() => resolve(port)); });
  });
}

/** stun_binding_requests_answered from `minimostctl status --json`. */
export function stunAnswered(dir) {
  const out = execFileSync(join(ROOT, 'target/debug/minimostctl'), ['--socket', join(dir, 'control.sock'), 'status', '--json'], { encoding: 'utf8' });
  return JSON.parse(out).stun_binding_requests_answered;
}

