// Call measurements for issue 6: a four-way call in a private channel between four headless
// Chromium pages (fake microphones), every pair connected, then the CPU the browsers and the
// daemon use over a steady stretch of the call, per participant. Usage: node measure-calls.js
// (builds nothing: run tests/e2e/run.sh once first so target/debug/minimost exists).
import { readFileSync, readdirSync } from 'node:fs';
import { startServer } from './server.js';
import { launch, newContext, signup } from './helpers.js';
import { MEDIA_ARGS, freeUdpPort, stunAnswered } from './call-helpers.js';

const NAMES = ['alice', 'bob', 'carol', 'dave'];
const SAMPLE_S = 20;
const TICKS = 100; // USER_HZ on Linux

/** utime + stime (ticks) of every process whose command line contains `needle`. */
function cpuTicks(needle) {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes(needle)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      total += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

async function connectedPeers(page) {
  return page.evaluate(() => [...window.minimostCalls.registry.entries()]
    .filter(([k, peer]) => k.startsWith('call:') && peer.pc.connectionState === 'connected').length);
}

async function main() {
  const server = await startServer({ settings: `stun_port = ${await freeUdpPort()}` });
  const browser = await launch({ args: MEDIA_ARGS });
  try {
    const pages = {};
    for (const name of NAMES) {
      const context = await newContext(browser);
      await context.grantPermissions(['microphone', 'camera'], { origin: server.base });
      pages[name] = await context.newPage();
      await signup(pages[name], server.base, name);
    }
    const alice = pages.alice;
    await alice.getByRole('button', { name: 'Create private channel' }).click();
    const dialog = alice.getByRole('dialog', { name: 'New private channel' });
    await dialog.getByLabel('Channel name').fill('Four');
    await dialog.getByLabel(/Members/).fill(NAMES.slice(1).join(', '));
    await dialog.getByRole('button', { name: 'Create' }).click();
    await alice.getByRole('textbox', { name: 'Message Four' }).waitFor();

    const stunBefore = stunAnswered(server.dir);
    await alice.getByRole('button', { name: 'Call', exact: true }).click();
    for (const name of NAMES.slice(1)) {
      await pages[name].getByRole('region', { name: 'Incoming call' }).getByRole('button', { name: 'Accept' }).click();
    }
    const started = Date.now();
    for (const name of NAMES) {
      await pages[name].waitForFunction(
        (want) => [...window.minimostCalls.registry.entries()]
          .filter(([k, peer]) => k.startsWith('call:') && peer.pc.connectionState === 'connected').length === want,
        NAMES.length - 1, { timeout: 30000 },
      );
    }
    const meshMs = Date.now() - started;
    // Let the mesh settle, then sample a steady stretch.
    await alice.waitForTimeout(3000);
    const browserBefore = cpuTicks('chromium');
    const daemonBefore = cpuTicks('target/debug/minimost');
    const audioBefore = await Promise.all(NAMES.map((n) => pages[n].evaluate(() => window.minimostCalls.stats())));
    await alice.waitForTimeout(SAMPLE_S * 1000);
    const browserCpu = (cpuTicks('chromium') - browserBefore) / TICKS / SAMPLE_S;
    const daemonCpu = (cpuTicks('target/debug/minimost') - daemonBefore) / TICKS / SAMPLE_S;
    const audioAfter = await Promise.all(NAMES.map((n) => pages[n].evaluate(() => window.minimostCalls.stats())));
    const audioFlowing = NAMES.map((_, i) => Object.entries(audioAfter[i])
      .filter(([k]) => k.startsWith('call:'))
      .every(([k, s]) => s.audioIn > (audioBefore[i][k]?.audioIn || 0)));
    const peers = await Promise.all(NAMES.map((n) => connectedPeers(pages[n])));
    console.log(JSON.stringify({
      participants: NAMES.length,
      connectedPeersEach: peers,
      audioFlowingEach: audioFlowing,
      lastAcceptToFullMeshMs: meshMs,
      stunAnswered: [stunBefore, stunAnswered(server.dir)],
      sampleSeconds: SAMPLE_S,
      browserCoresTotal: Number(browserCpu.toFixed(3)),
      browserCoresPerParticipant: Number((browserCpu / NAMES.length).toFixed(3)),
      daemonCores: Number(daemonCpu.toFixed(4)),
    }, null, 1));
  } finally {
    await browser.close();
    await server.stop();
  }
}

await main();
