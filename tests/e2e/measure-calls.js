// Call measurements for issue 6: an N-way call in a private channel between N headless Chromium
// pages (fake microphones), every pair connected, then over a steady stretch of the call the CPU
// the browsers and the daemon use, per participant, and how much of the audio each participant
// heard had to be concealed (invented by the jitter buffer because packets came late or not at
// all) — the measure of where audio degrades. Usage: node measure-calls.js [N] (default 4, up
// to 8; builds nothing: run tests/e2e/run.sh once first so target/debug/minimost exists).
import { readFileSync, readdirSync } from 'node:fs';
import { startServer } from './server.js';
import { launch, newContext, signup } from './helpers.js';
import { MEDIA_ARGS, freeUdpPort, stunAnswered } from './call-helpers.js';

const PARTICIPANTS = Number(process.argv[2] || 4);
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'].slice(0, PARTICIPANTS);
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
    await dialog.getByLabel('Channel name').fill('Huddle');
    await dialog.getByLabel(/Members/).fill(NAMES.slice(1).join(', '));
    await dialog.getByRole('button', { name: 'Create' }).click();
    await alice.getByRole('textbox', { name: 'Message Huddle' }).waitFor();

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
    // Concealed share of the audio received during the sample, over every inbound stream.
    let concealed = 0;
    let received = 0;
    let lost = 0;
    NAMES.forEach((_, i) => Object.entries(audioAfter[i]).filter(([k]) => k.startsWith('call:')).forEach(([k, s]) => {
      const before = audioBefore[i][k] || { samplesConcealed: 0, samplesReceived: 0, packetsLost: 0 };
      concealed += s.samplesConcealed - before.samplesConcealed;
      received += s.samplesReceived - before.samplesReceived;
      lost += s.packetsLost - before.packetsLost;
    }));
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
      audioConcealedPercent: Number((received ? (100 * concealed) / received : 0).toFixed(2)),
      audioPacketsLost: lost,
    }, null, 1));
  } finally {
    await browser.close();
    await server.stop();
  }
}

await main();
