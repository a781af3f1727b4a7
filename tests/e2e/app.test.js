// End-to-end tests of the app (issue 5): two people in two browser contexts against the real
// binary, with a fresh state directory for this file. Each test fails on any console error or CSP
// violation. While the server's account and messaging routes are still being built, the tests are
// skipped with the precise route that is missing; they run as soon as it answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.js';
import {
  launch, newContext, assertClean, shot, signup, composer, messages, send, missingRoutes, needs,
} from './helpers.js';

const server = await startServer();
const missing = await missingRoutes(server.base);
// Every test loads the app, which needs these from its first second.
const APP = ['GET /', 'GET /events', 'GET /channels', 'GET /users', 'GET /user_colors', 'GET /user_avatars', 'GET /last_read/general'];
const skip = needs(missing, ...APP);
let browser;
let alice;   // {context, page}
let bob;

async function person(name, options = {}) {
  const context = await newContext(browser, options);
  const page = await context.newPage();
  await signup(page, server.base, name);
  return { context, page };
}

/** Closes whatever a failed earlier test left open, so one failure does not cascade. */
async function settle(...pages) {
  for (const page of pages) {
    for (let i = 0; i < 3 && await page.locator('dialog[open], .picker').count(); i += 1) await page.keyboard.press('Escape');
  }
}

async function open(page, name) {
  await settle(page);
  await page.getByRole('navigation', { name: 'Channels' }).getByRole('button', { name: new RegExp(`^${name}(,|$)`) }).click();
  await composer(page).waitFor();
}

before(async () => {
  if (skip) return;
  browser = await launch();
  alice = await person('alice');
  bob = await person('bob');
});

after(async () => {
  await browser?.close();
  await server.stop();
});

test('two people: sign up, and a message from one shows live for the other', { skip }, async () => {
  await open(alice.page, '#general');
  await open(bob.page, '#general');
  // The welcome notice is a new user's one unread message (§1).
  await alice.page.getByRole('article', { name: /MiniMost/ }).first().waitFor();
  await send(alice.page, 'Hello from alice');
  await bob.page.getByRole('article', { name: /^alice/ }).filter({ hasText: 'Hello from alice' }).waitFor();
  await shot(bob.page, 'channel', { docs: true });
  assertClean(alice.context, bob.context);
});

test('edit, delete, react, reply and pin propagate live', { skip: needs(missing, ...APP, 'POST /edit/0', 'POST /delete/0', 'POST /react/0', 'POST /pin/0', 'GET /message/0') }, async () => {
  await open(alice.page, '#general');
  await open(bob.page, '#general');
  await send(alice.page, 'Original words');
  const aliceRow = alice.page.locator('.msg', { hasText: 'Original words' }).last();
  const bobRow = () => bob.page.locator('.msg', { hasText: /Original words|Edited words/ }).last();
  await bobRow().waitFor();

  await aliceRow.hover();
  await aliceRow.getByRole('button', { name: 'Edit' }).click();
  await alice.page.getByRole('textbox', { name: 'Edit message' }).fill('Edited words');
  await alice.page.getByRole('textbox', { name: 'Edit message' }).press('Control+Enter');
  await bob.page.locator('.msg', { hasText: 'Edited words' }).getByText('(edited)').waitFor();

  const bobEdited = bob.page.locator('.msg', { hasText: 'Edited words' }).last();
  await bobEdited.hover();
  await bobEdited.getByRole('button', { name: 'Add reaction' }).first().click();
  await bob.page.getByRole('combobox', { name: 'Search emoji' }).fill('tada');
  await bob.page.keyboard.press('Enter');
  await alice.page.locator('.msg', { hasText: 'Edited words' }).getByRole('button', { name: /^tada, 1: bob/ }).waitFor();

  await bobEdited.hover();
  await bobEdited.getByRole('button', { name: 'Pin' }).click();
  await alice.page.locator('.msg', { hasText: 'Edited words' }).getByText('Pinned by bob').waitFor();
  await alice.page.getByRole('button', { name: /^Pins, 1/ }).waitFor();

  await bobEdited.hover();
  await bobEdited.getByRole('button', { name: 'Reply' }).click();
  await composer(bob.page).fill('A reply to alice');
  await composer(bob.page).press('Enter');
  const quoted = alice.page.locator('.msg', { hasText: 'A reply to alice' }).getByRole('button', { name: /alice: Edited words/ });
  await quoted.waitFor();

  const row = alice.page.locator('.msg', { hasText: 'Edited words' }).filter({ hasNot: alice.page.locator('.quote') }).last();
  await row.hover();
  await row.getByRole('button', { name: 'Delete' }).click();
  await alice.page.getByRole('button', { name: 'Undo' }).waitFor();
  // The delete is sent after the 5 s safety net (D1); then it vanishes for everyone.
  await bob.page.locator('.msg:not(.msg-grouped)', { hasText: /^Edited words$/ }).waitFor({ state: 'detached', timeout: 10000 });
  await bob.page.locator('.quote', { hasText: 'The original message was deleted' }).waitFor({ timeout: 10000 });
  assertClean(alice.context, bob.context);
});

test('a DM is started, closed, and reappears on a new message', { skip: needs(missing, ...APP, 'GET /dms') }, async () => {
  await alice.page.getByRole('button', { name: 'New DM' }).click();
  const dialog = alice.page.getByRole('dialog', { name: 'New direct message' });
  await dialog.getByRole('combobox').fill('bo');
  await alice.page.keyboard.press('Enter');
  await dialog.getByRole('button', { name: 'Start' }).click();
  await alice.page.getByRole('textbox', { name: 'Message @bob' }).waitFor();
  await send(alice.page, 'Private hello');
  const bobNav = bob.page.getByRole('navigation', { name: 'Channels' });
  await bobNav.getByRole('button', { name: /^alice, 1 unread/ }).waitFor();
  await bobNav.getByRole('button', { name: 'Close alice' }).click();
  await bobNav.getByRole('button', { name: /^alice/ }).waitFor({ state: 'detached' });
  await send(alice.page, 'Are you there?');
  await bobNav.getByRole('button', { name: /^alice, \d+ unread/ }).waitFor();
  assertClean(alice.context, bob.context);
});

test('private channel: create, add a late joiner who sees history from then, rename, leave', { skip: needs(missing, ...APP, 'GET /private_channels', 'POST /private_channels/0/rename', 'POST /private_channels/0/add_member', 'POST /private_channels/0/leave', 'GET /channel_members/general', 'GET /profile/probe') }, async () => {
  await alice.page.getByRole('button', { name: 'Create private channel' }).click();
  const dialog = alice.page.getByRole('dialog', { name: 'New private channel' });
  await dialog.getByLabel('Channel name').fill('Design crew');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await alice.page.getByRole('textbox', { name: 'Message Design crew' }).waitFor();
  await send(alice.page, 'Before bob joined');
  await alice.page.getByRole('button', { name: /^Members/ }).first().click();
  const members = alice.page.getByRole('dialog', { name: /Members of Design crew/ });
  await members.getByLabel('Add a member').fill('bob');
  await members.getByRole('button', { name: 'Add', exact: true }).click();
  await members.getByText('bob was added').waitFor();
  await alice.page.keyboard.press('Escape');
  await send(alice.page, 'After bob joined');
  await open(bob.page, 'Design crew');
  await bob.page.getByRole('article').filter({ hasText: 'After bob joined' }).waitFor();
  await bob.page.getByRole('article').filter({ hasText: 'alice added bob to this channel' }).waitFor();
  assert.equal(await bob.page.getByRole('article').filter({ hasText: 'Before bob joined' }).count(), 0);

  await alice.page.getByRole('button', { name: 'Rename' }).click();
  await alice.page.getByRole('textbox', { name: 'Channel name' }).fill('Design team');
  await alice.page.keyboard.press('Enter');
  await bob.page.getByRole('textbox', { name: 'Message Design team' }).waitFor();
  await bob.page.getByRole('article').filter({ hasText: 'has renamed the channel to "Design team"' }).waitFor();

  await bob.page.getByRole('button', { name: 'Channel menu' }).click();
  await bob.page.getByRole('menuitem', { name: 'Leave' }).click();
  assert.equal(await bob.page.evaluate(() => document.activeElement.textContent), 'Cancel');
  await bob.page.getByRole('alertdialog').getByRole('button', { name: 'Leave' }).click();
  await bob.page.getByRole('textbox', { name: 'Message #general' }).waitFor();
  await alice.page.getByRole('article').filter({ hasText: 'bob has left the channel' }).waitFor();
  assertClean(alice.context, bob.context);
});

test('search finds a message and jumps to it in history', { skip: needs(missing, ...APP, 'GET /search_messages', 'GET /messages_before/general') }, async () => {
  await open(alice.page, '#general');
  await send(alice.page, 'needle in the haystack');
  for (let i = 0; i < 30; i += 1) await send(alice.page, `filler ${i}`);
  await alice.page.getByRole('button', { name: 'Search' }).click();
  // Search is a panel under the topbar (§11), not a modal: the conversation stays usable.
  const panel = alice.page.getByRole('search', { name: 'Search' });
  await panel.waitFor();
  assert.equal(await alice.page.getByRole('dialog').count(), 0);
  assert.equal(await alice.page.getByRole('button', { name: 'Search', exact: true }).getAttribute('aria-expanded'), 'true');
  const [top, under] = await Promise.all([alice.page.locator('.topbar').boundingBox(), panel.boundingBox()]);
  assert.ok(Math.abs(under.y - (top.y + top.height)) <= 2, 'the panel sits right under the topbar');
  await panel.getByLabel('Search messages').fill('needle');
  await panel.getByRole('button', { name: /needle in the haystack/ }).click();
  await panel.waitFor({ state: 'detached' });
  const target = alice.page.locator('.msg.flash', { hasText: 'needle in the haystack' });
  await target.waitFor();
  assert.ok(await target.isVisible());
  await shot(alice.page, 'search-jump');
  assertClean(alice.context);
});

test('an image dropped shows inline and a file shows as a download', { skip }, async () => {
  await open(alice.page, '#general');
  await open(bob.page, '#general');
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  const drop = await alice.page.evaluateHandle(([bytes]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'dot.png', { type: 'image/png' }));
    dt.items.add(new File(['plain words'], 'notes.bin', { type: 'application/octet-stream' }));
    return dt;
  }, [[...png]]);
  await alice.page.locator('.composer').dispatchEvent('drop', { dataTransfer: drop });
  await alice.page.getByRole('list', { name: 'Files to send' }).getByText('dot.png').waitFor();
  await composer(alice.page).press('Enter');
  // Images are stored under a random name (api.md 6.4), which is what the alt text can give.
  const image = bob.page.locator('.msg img.msg-image').last();
  await image.waitFor();
  await bob.page.waitForFunction(() => { const img = [...document.querySelectorAll('.msg img.msg-image')].pop(); return img && img.complete && img.naturalWidth === 1; });
  assert.match(await image.getAttribute('alt'), /^[0-9a-f]{32}\.png$/);
  const link = bob.page.getByRole('link', { name: /notes\.bin/ });
  await link.waitFor();
  assert.equal(await link.getAttribute('download'), 'notes.bin');
  assertClean(alice.context, bob.context);
});

test('unread badges and @mention alerts', { skip }, async () => {
  await open(bob.page, '#software');
  await open(alice.page, '#general');
  await send(alice.page, 'Hey @bob, look at this');
  const nav = bob.page.getByRole('navigation', { name: 'Channels' });
  await nav.getByRole('button', { name: /^#general, \d+ unread/ }).waitFor();
  await nav.getByRole('button', { name: /^Mentions, 1 unread/ }).waitFor();
  assert.match(await bob.page.title(), /^\(\d+\) MiniMost$/);
  await nav.getByRole('button', { name: /^Mentions/ }).click();
  await bob.page.getByRole('button', { name: /Hey @bob/ }).click();
  await bob.page.locator('.msg.msg-mention', { hasText: 'Hey @bob' }).waitFor();
  assert.match(await bob.page.locator('.msg.msg-mention').last().getAttribute('aria-label'), /mentions you/);
  assertClean(alice.context, bob.context);
});

test('settings: name colour and a cropped avatar', { skip: needs(missing, ...APP, 'GET /settings', 'GET /presence/override') }, async () => {
  await alice.page.getByRole('button', { name: 'Settings' }).click();
  const dialog = alice.page.getByRole('dialog', { name: 'Settings' });
  await dialog.waitFor();
  assert.equal(await alice.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Close');
  await dialog.getByRole('button', { name: 'Colour #4184e4' }).click();
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  const chooser = alice.page.waitForEvent('filechooser');
  await dialog.getByRole('button', { name: 'Upload avatar' }).click();
  await (await chooser).setFiles({ name: 'me.png', mimeType: 'image/png', buffer: png });
  const crop = alice.page.getByRole('dialog', { name: 'Crop your avatar' });
  await crop.getByLabel(/Crop area/).press('+');
  await crop.getByRole('button', { name: 'Use this picture' }).click();
  await dialog.getByRole('button', { name: 'Save profile' }).click();
  await dialog.getByText('Profile saved.').waitFor();
  await shot(alice.page, 'settings', { docs: true });
  await alice.page.keyboard.press('Escape');
  const colors = await (await alice.page.request.get(`${server.base}/user_colors`)).json();
  assert.equal(colors.alice, '#4184e4');
  const avatars = await (await alice.page.request.get(`${server.base}/user_avatars`)).json();
  assert.ok(avatars.includes('alice'));
  assertClean(alice.context);
});

test('keyboard only: switch, write, visual mode react, help', { skip: needs(missing, ...APP, 'POST /react/0') }, async () => {
  const page = alice.page;
  await open(page, '#general');
  await page.keyboard.press('Escape');
  await page.getByRole('log').focus();
  await page.keyboard.press('i');
  await page.keyboard.type('typed without a mouse');
  await page.keyboard.press('Enter');
  await page.locator('.msg:not(.msg-pending)', { hasText: 'typed without a mouse' }).waitFor();
  await page.keyboard.press('Escape');
  await page.keyboard.press('v');
  await page.locator('.msg.is-selected', { hasText: 'typed without a mouse' }).waitFor();
  await page.keyboard.press('e');
  await page.keyboard.type('thumbsup');
  await page.keyboard.press('Enter');
  await page.locator('.msg', { hasText: 'typed without a mouse' }).getByRole('button', { name: /^thumbsup, 1/ }).waitFor();
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+j');
  await page.getByRole('textbox', { name: 'Message #software' }).waitFor();
  await page.keyboard.press('?');
  await page.getByRole('dialog', { name: 'Help' }).waitFor();
  await shot(page, 'help', { docs: true });
  await page.keyboard.press('Escape');
  assert.equal(await page.getByRole('dialog').count(), 0);
  assertClean(alice.context);
});

test('a 390×844 phone uses the drawer', { skip }, async () => {
  const phone = await newContext(browser, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await phone.newPage();
  await page.goto(`${server.base}/login`);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('Correct-Horse-Battery-9');
  await page.getByRole('button', { name: /Log in/i }).click();
  await composer(page).waitFor();
  const nav = page.getByRole('navigation', { name: 'Channels' });
  assert.equal(await nav.isVisible(), false);
  await page.getByRole('button', { name: 'Menu' }).click();
  await nav.waitFor();
  await shot(page, 'phone-drawer', { docs: true });
  await nav.getByRole('button', { name: /^#software/ }).click();
  await page.getByRole('textbox', { name: 'Message #software' }).waitFor();
  await nav.waitFor({ state: 'hidden' });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no page-level horizontal scroll (${width})`);
  assert.ok((await messages(page).count()) >= 0);
  await shot(page, 'phone', { docs: true });
  await phone.close();
  assertClean(phone);
});
