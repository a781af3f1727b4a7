// Browser tests of calls and screen sharing (§15) against the real binary: fake microphone,
// camera and screen in Chromium, ICE through the daemon's own STUN server on a free UDP port, and
// every test failing on a console error or CSP violation. Peer connections are read through the
// client's diagnostic registry (window.minimostCalls).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.js';
import { launch, newContext, assertClean, shot, signup, composer, send } from './helpers.js';
import { MEDIA_ARGS, freeUdpPort, stunAnswered } from './call-helpers.js';

const stunPort = await freeUdpPort();
const server = await startServer({ settings: `stun_port = ${stunPort}` });
let browser;
const people = {};

async function person(name) {
  const context = await newContext(browser);
  await context.grantPermissions(['microphone', 'camera'], { origin: server.base });
  const page = await context.newPage();
  await signup(page, server.base, name);
  people[name] = { context, page };
  return people[name];
}

async function open(page, name) {
  await page.getByRole('navigation', { name: 'Channels' }).getByRole('button', { name: new RegExp(`^${name}(,|$)`) }).click();
  await composer(page).waitFor();
}

/** Peer connections of a page: {key: {state, audioIn, videoIn, framesDecoded, connectedMs, signals}}. */
export const peerStats = (page) => page.evaluate(() => window.minimostCalls.stats());

async function waitConnected(page, count, prefix = 'call:') {
  await page.waitForFunction(([n, p]) => {
    const peers = [...window.minimostCalls.registry.entries()].filter(([k]) => k.startsWith(p));
    return peers.length === n && peers.every(([, peer]) => peer.pc.connectionState === 'connected');
  }, [count, prefix], { timeout: 20000 });
}

async function audioGrows(page) {
  const first = await peerStats(page);
  await page.waitForTimeout(1200);
  const second = await peerStats(page);
  for (const [key, s] of Object.entries(second)) {
    if (!key.startsWith('call:')) continue;
    assert.ok(s.audioIn > (first[key]?.audioIn || 0), `${key}: inbound audio grows (${first[key]?.audioIn} → ${s.audioIn})`);
  }
}

async function newDm(page, name) {
  await page.getByRole('button', { name: 'New DM' }).click();
  const dialog = page.getByRole('dialog', { name: 'New direct message' });
  await dialog.getByRole('combobox').fill(name);
  await dialog.getByRole('button', { name: 'Start' }).click();
  await page.getByRole('textbox', { name: `Message @${name}` }).waitFor();
}

before(async () => {
  browser = await launch({ args: MEDIA_ARGS });
  await person('alice');
  await person('bob');
  await person('carol');
});

after(async () => {
  await browser?.close();
  await server.stop();
});

export const measured = {};

test('a DM call: ring, accept, both connect with audio flowing, hang up ends it with a notice', async () => {
  const { alice, bob } = people;
  await newDm(alice.page, 'bob');
  await send(alice.page, 'shall we talk?');
  await open(bob.page, 'alice');
  const stunBefore = stunAnswered(server.dir);

  await alice.page.getByRole('button', { name: 'Call', exact: true }).click();
  const panel = alice.page.getByRole('dialog', { name: '@bob' });
  await panel.waitFor();
  await panel.getByText('Ringing…').waitFor();
  const card = bob.page.getByRole('region', { name: 'Incoming call' });
  await card.getByRole('alert').filter({ hasText: 'alice is calling' }).waitFor();
  // Announced without stealing focus (D29).
  assert.equal(await bob.page.evaluate(() => document.activeElement.closest('.incoming-call')), null);
  await bob.page.evaluate(() => document.addEventListener('click', (e) => {
    if (e.target.closest('.call-accept')) window.acceptClickedAt = performance.now();
  }, true));
  await card.getByRole('button', { name: 'Accept' }).click();
  await waitConnected(bob.page, 1);
  await waitConnected(alice.page, 1);
  const acceptToConnected = await bob.page.evaluate(() => [...window.minimostCalls.registry.values()][0].connectedAt - window.acceptClickedAt);
  measured.acceptToConnectedMs = Math.round(acceptToConnected);
  await audioGrows(alice.page);
  await audioGrows(bob.page);
  await alice.page.getByRole('dialog', { name: '@bob' }).getByText(/^Connected · /).waitFor();
  const stunAfter = stunAnswered(server.dir);
  assert.ok(stunAfter > stunBefore, `STUN answers rose during set-up (${stunBefore} → ${stunAfter})`);
  measured.stun = [stunBefore, stunAfter];
  const aStats = await peerStats(alice.page);
  const bStats = await peerStats(bob.page);
  const a = Object.values(aStats)[0].signals;
  const b = Object.values(bStats)[0].signals;
  measured.signalsPerPair = a.sent + b.sent;

  // Mute keeps its name and reports its state; the peer sees the badge.
  const mute = alice.page.getByRole('button', { name: 'Mute', exact: true });
  await mute.click();
  assert.equal(await mute.getAttribute('aria-pressed'), 'true');
  await bob.page.locator('.call-tile[data-user="alice"] .tile-badge', { hasText: 'muted' }).waitFor();
  await mute.click();
  await shot(alice.page, 'call-panel', { docs: true });

  // Esc minimises to the docked card and restores (D3).
  await alice.page.keyboard.press('Escape');
  await alice.page.locator('.call-panel.is-minimised').waitFor();
  await alice.page.getByRole('button', { name: 'Restore call' }).click();
  await alice.page.locator('.call-panel:not(.is-minimised)').waitFor();

  await alice.page.getByRole('button', { name: 'Hang up' }).click();
  await bob.page.locator('.call-panel').waitFor({ state: 'detached', timeout: 10000 });
  await bob.page.getByRole('article').filter({ hasText: /Call ended · \d+s/ }).waitFor();
  assert.equal(await bob.page.evaluate(() => window.minimostCalls.registry.size), 0);
  assertClean(alice.context, bob.context);
});

test('an unanswered call that the caller gives up leaves "Missed call from alice"', async () => {
  const { alice, bob } = people;
  await open(alice.page, 'bob');
  await open(bob.page, 'alice');
  await alice.page.getByRole('button', { name: 'Call', exact: true }).click();
  await bob.page.getByRole('region', { name: 'Incoming call' }).waitFor();
  await alice.page.getByRole('button', { name: 'Hang up' }).click();
  await bob.page.getByRole('region', { name: 'Incoming call' }).waitFor({ state: 'detached' });
  await bob.page.getByRole('article').filter({ hasText: 'Missed call from alice' }).waitFor();
  assertClean(alice.context, bob.context);
});

test('a three-way call in a private channel: decline, invite back, the mesh connects all pairs', async () => {
  const { alice, bob, carol } = people;
  await alice.page.getByRole('button', { name: 'Create private channel' }).click();
  const dialog = alice.page.getByRole('dialog', { name: 'New private channel' });
  await dialog.getByLabel('Channel name').fill('Standup');
  await dialog.getByLabel(/Members/).fill('bob, carol');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await alice.page.getByRole('textbox', { name: 'Message Standup' }).waitFor();
  await open(bob.page, 'Standup');
  await open(carol.page, 'Standup');

  await alice.page.getByRole('button', { name: 'Call', exact: true }).click();
  await bob.page.getByRole('region', { name: 'Incoming call' }).getByRole('button', { name: 'Accept' }).click();
  await carol.page.getByRole('region', { name: 'Incoming call' }).getByRole('button', { name: 'Decline' }).click();
  await waitConnected(alice.page, 1);
  await waitConnected(bob.page, 1);

  await alice.page.getByRole('button', { name: 'Add person' }).click();
  await alice.page.getByRole('button', { name: 'Invite carol' }).click();
  await carol.page.getByRole('region', { name: 'Incoming call' }).getByRole('button', { name: 'Accept' }).click();
  for (const p of [alice, bob, carol]) await waitConnected(p.page, 2);
  for (const p of [alice, bob, carol]) await audioGrows(p.page);

  // A screen shared in the call is decoded by the others.
  await alice.page.getByRole('button', { name: 'Share screen' }).click();
  await bob.page.waitForFunction(async () => Object.values(await window.minimostCalls.stats()).some((s) => s.framesDecoded > 0), null, { timeout: 20000 });
  await bob.page.getByText("alice's screen").waitFor();
  await shot(bob.page, 'call-screen', { docs: true });

  // Two hang up; with one live member left the call ends for carol too (api.md §6.9).
  for (const p of [alice, bob]) await p.page.getByRole('button', { name: 'Hang up' }).click();
  await carol.page.getByRole('button', { name: 'Hang up' }).waitFor({ state: 'detached', timeout: 10000 });
  for (const p of [alice, carol]) await p.page.getByRole('article').filter({ hasText: /Call ended · \d+s/ }).waitFor();
  assertClean(alice.context, bob.context, carol.context);
});

test('a standalone screen share: Watch, frames decoded, the share survives the sharer switching channels, Stop closes the viewer', async () => {
  const { alice, bob } = people;
  // Start from fresh pages: nothing left over from the calls above. The DM is the first test's.
  for (const p of [alice, bob]) await p.page.reload();
  await open(alice.page, 'bob');
  await open(bob.page, 'alice');
  await alice.page.getByRole('button', { name: 'Share screen' }).click();
  await alice.page.getByText(/You are sharing your screen/).waitFor();
  assert.equal(await alice.page.getByRole('button', { name: 'Share screen' }).getAttribute('aria-pressed'), 'true');
  await bob.page.getByRole('button', { name: /^Watch/ }).click();
  const decoding = () => bob.page.waitForFunction(async () => Object.entries(await window.minimostCalls.stats()).some(([k, s]) => k.startsWith('share:') && s.framesDecoded > 0), null, { timeout: 20000 });
  await decoding();
  await open(alice.page, '#general');
  const before = await peerStats(bob.page);
  await bob.page.waitForTimeout(1000);
  const later = await peerStats(bob.page);
  const key = Object.keys(later).find((k) => k.startsWith('share:'));
  assert.ok(key && later[key].framesDecoded > before[key].framesDecoded, 'frames keep coming after the sharer switched channels');
  await alice.page.getByRole('button', { name: 'Stop sharing' }).click();
  await bob.page.locator('.share-viewer').waitFor({ state: 'detached', timeout: 10000 });
  assertClean(alice.context, bob.context);
});

test('a viewer minimises the viewer, switches channels and keeps watching; Restore brings it back (D20)', async () => {
  const { alice, bob } = people;
  await open(alice.page, 'bob');
  await alice.page.getByRole('button', { name: 'Share screen' }).click();
  await open(bob.page, 'alice');
  await bob.page.getByRole('button', { name: /^Watch/ }).click();
  const frames = async () => {
    const stats = await peerStats(bob.page);
    const key = Object.keys(stats).find((k) => k.startsWith('share:'));
    return key ? stats[key].framesDecoded : 0;
  };
  await bob.page.waitForFunction(async () => Object.entries(await window.minimostCalls.stats()).some(([k, s]) => k.startsWith('share:') && s.framesDecoded > 0), null, { timeout: 20000 });
  const viewer = bob.page.getByRole('dialog', { name: /alice's screen/ });
  await viewer.getByRole('button', { name: 'Minimise viewer' }).click();
  await open(bob.page, '#general');
  await bob.page.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const before = await frames();
  await bob.page.waitForTimeout(1000);
  assert.ok(await frames() > before, 'frames keep coming after the viewer switched channels');
  await shot(bob.page, 'viewer-docked');
  await viewer.getByRole('button', { name: 'Restore viewer' }).click();
  await viewer.getByRole('button', { name: 'Fullscreen' }).waitFor();
  await alice.page.getByRole('button', { name: 'Stop sharing' }).click();
  await bob.page.locator('.share-viewer').waitFor({ state: 'detached', timeout: 10000 });
  assertClean(alice.context, bob.context);
});

after(() => {
  console.log(`# measured: ${JSON.stringify(measured)}`);
});
