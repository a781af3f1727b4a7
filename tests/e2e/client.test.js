// Browser tests of the client's "do better" behaviours (web-client.md D9, D24, D27, §4, §11) against
// the real binary, in a state directory of their own: upload progress and Cancel, failed sends
// with Retry and Discard, readable name colours in the light theme and the line length, the
// search panel's keys, highlighted name matches in the pickers, and the favicon badge's blinking.
// Each test fails on any console error or CSP violation other than the one it provokes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.js';
import {
  launch, newContext, assertClean, shot, signup, composer, send, missingRoutes, needs,
} from './helpers.js';

const server = await startServer();
const missing = await missingRoutes(server.base);
const APP = ['GET /', 'GET /events', 'GET /channels', 'GET /users', 'GET /user_colors', 'GET /user_avatars', 'GET /last_read/general'];
const skip = needs(missing, ...APP);
let browser;
let carol;   // {context, page}
let dave;

async function person(name) {
  const context = await newContext(browser, { viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await signup(page, server.base, name);
  return { context, page };
}

async function open(page, name) {
  for (let i = 0; i < 3 && await page.locator('dialog[open], .picker, .search-panel').count(); i += 1) await page.keyboard.press('Escape');
  await page.getByRole('navigation', { name: 'Channels' }).getByRole('button', { name: new RegExp(`^${name}(,|$)`) }).click();
  await composer(page).waitFor();
}

/** Drops the console lines a test provoked on purpose (a refused request), so the rest still count. */
function forgive(context, pattern) {
  context.problems.splice(0, context.problems.length, ...context.problems.filter((p) => !pattern.test(p)));
}

/** WCAG contrast of two "rgb(r, g, b)" strings. */
function contrastOf(a, b) {
  const lum = (text) => {
    const [r, g, bl] = text.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

before(async () => {
  if (skip) return;
  browser = await launch();
  carol = await person('carol');
  dave = await person('dave');
});

after(async () => {
  await browser?.close();
  await server.stop();
});

test('an upload shows its progress and Cancel puts the file back in the composer (D27)', { skip }, async () => {
  const { page, context } = carol;
  await open(page, '#general');
  // A slow uplink makes the upload take seconds, so its progress can be watched.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  const big = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(3 * 1024 * 1024).fill(65)], 'big-report.txt', { type: 'text/plain' }));
    return dt;
  });
  await page.locator('.composer').dispatchEvent('drop', { dataTransfer: big });
  const staged = page.getByRole('list', { name: 'Files to send' });
  await staged.getByText('big-report.txt').waitFor();
  await composer(page).fill('the quarterly numbers');
  await composer(page).press('Enter');
  const bar = page.getByRole('progressbar', { name: 'Uploading big-report.txt' });
  await bar.waitFor();
  assert.equal(await staged.isVisible(), false, 'the file left the composer while it uploads');
  // The bar moves with the bytes sent, before the upload ends.
  await page.waitForFunction(() => {
    const p = document.querySelector('.upload-progress progress');
    return p && p.value > 0 && p.value < 100;
  }, null, { timeout: 15000 });
  await shot(page, 'upload-progress');
  await page.getByRole('button', { name: 'Cancel upload of big-report.txt' }).click();
  await bar.waitFor({ state: 'detached' });
  await page.getByText(/Upload cancelled/).waitFor();
  // Nothing was sent, and the file and the text are back, staged and removable.
  await staged.getByText('big-report.txt').waitFor();
  await staged.getByRole('button', { name: 'Remove big-report.txt' }).waitFor();
  assert.equal(await composer(page).inputValue(), 'the quarterly numbers');
  assert.equal(await page.locator('.msg', { hasText: 'the quarterly numbers' }).count(), 0);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await composer(page).press('Enter');
  await page.locator('.msg:not(.msg-pending)', { hasText: 'the quarterly numbers' }).waitFor();
  await page.getByRole('link', { name: /big-report\.txt/ }).last().waitFor();
  assert.equal(await page.getByRole('progressbar').count(), 0);
  await cdp.detach();
  assertClean(context);
});

test('a failed send is marked failed with Retry and Discard (D27)', { skip }, async () => {
  const { page, context } = carol;
  await open(page, '#general');
  let refuse = true;
  await page.route('**/send/**', (route) => (refuse
    ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'server busy' }) })
    : route.continue()));
  await composer(page).fill('first try fails');
  await composer(page).press('Enter');
  const row = page.locator('.msg', { hasText: 'first try fails' });
  await row.getByText(/Not sent: server busy/).waitFor();
  refuse = false;
  await row.getByRole('button', { name: 'Retry' }).click();
  await page.locator('.msg:not(.msg-pending)', { hasText: 'first try fails' }).waitFor();
  assert.equal(await page.getByText(/Not sent/).count(), 0);

  refuse = true;
  await composer(page).fill('never mind this');
  await composer(page).press('Enter');
  const failed = page.locator('.msg', { hasText: 'never mind this' });
  await failed.getByText(/Not sent/).waitFor();
  await composer(page).fill('typed meanwhile');
  await failed.getByRole('button', { name: 'Discard' }).click();
  await failed.waitFor({ state: 'detached' });
  // Discard takes the message out of the list but keeps its words, before what was typed since.
  assert.equal(await composer(page).inputValue(), 'never mind this\ntyped meanwhile');
  await composer(page).fill('');
  await page.unroute('**/send/**');
  forgive(context, /status of 503/);
  assertClean(context);
});

test('names stay readable in the light theme, the stored colour kept; lines have a maximum length (D24)', { skip }, async () => {
  // dave picks a pale yellow, which is unreadable on a light background as it is.
  await dave.page.getByRole('button', { name: 'Settings' }).click();
  const settings = dave.page.getByRole('dialog', { name: 'Settings' });
  await settings.getByLabel('Custom name colour').fill('#ffe14d');
  await settings.getByRole('button', { name: 'Save profile' }).click();
  await settings.getByText('Profile saved.').waitFor();
  await dave.page.keyboard.press('Escape');
  await open(dave.page, '#general');
  const long = `A long line ${'of words that keep going '.repeat(30)}to the end.`;
  await send(dave.page, long);

  const page = carol.page;
  await page.emulateMedia({ colorScheme: 'light' });
  await page.reload();
  await open(page, '#general');
  const name = page.locator('.msg', { hasText: 'A long line' }).last().locator('.msg-sender');
  await name.waitFor();
  const colours = async () => page.evaluate(() => {
    const el = [...document.querySelectorAll('.msg-sender')].filter((n) => n.textContent === 'dave').pop();
    return { text: getComputedStyle(el).color, bg: getComputedStyle(document.querySelector('.message-list')).backgroundColor || '', body: getComputedStyle(document.body).backgroundColor };
  });
  const light = await colours();
  assert.equal(light.body, 'rgb(245, 246, 248)', 'the light palette is in use');
  assert.ok(contrastOf(light.text, light.body) >= 4.5, `dave's name reads at ${contrastOf(light.text, light.body).toFixed(2)}:1 on the light background`);
  assert.notEqual(light.text, 'rgb(255, 225, 77)');
  // The stored colour is untouched, and the dark theme shows it as chosen (it is readable there).
  const stored = await (await page.request.get(`${server.base}/user_colors`)).json();
  assert.equal(stored.dave, '#ffe14d');
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await colours();
  assert.equal(dark.body, 'rgb(22, 24, 29)', 'the dark palette is in use');
  assert.equal(dark.text, 'rgb(255, 225, 77)');
  await shot(page, 'name-contrast-dark');

  // Prose stops at a readable measure however wide the window is.
  const measure = await page.locator('.msg', { hasText: 'A long line' }).last().evaluate((row) => {
    const text = row.querySelector('.msg-text');
    const probe = document.createElement('span');
    // Short enough never to wrap, or the probe would measure the wrapped box, not 1ch.
    probe.textContent = '0'.repeat(10);
    text.append(probe);
    const ch = probe.getBoundingClientRect().width / 10;
    probe.remove();
    return { width: text.getBoundingClientRect().width, ch, list: document.querySelector('.message-list').clientWidth };
  });
  assert.ok(measure.width <= 81 * measure.ch, `a line is at most about 80 characters (${(measure.width / measure.ch).toFixed(1)})`);
  assert.ok(measure.list > measure.width + 100, 'the window is wider than the measure');
  await page.emulateMedia({ colorScheme: 'light' });
  await shot(page, 'name-contrast-light', { docs: true });
  await page.emulateMedia({ colorScheme: null });
  assertClean(carol.context, dave.context);
});

test('search is a panel under the topbar: keys, Esc, and shortcuts inert while open (§11, D2, D3)', { skip: needs(missing, ...APP, 'GET /search_messages') }, async () => {
  const page = carol.page;
  await open(page, '#general');
  await send(page, 'alpha marker one');
  await send(page, 'alpha marker two');
  await page.getByRole('log').focus();
  await page.keyboard.press('/');
  const panel = page.getByRole('search', { name: 'Search' });
  await panel.waitFor();
  const query = panel.getByLabel('Search messages');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'search-q');
  await query.fill('alpha marker');
  // The results listbox's options, not the Conversation filter's <option>s.
  const results = () => panel.getByRole('listbox', { name: 'Results' }).getByRole('option');
  const hits = results();
  await hits.nth(1).waitFor();
  // Newest first (D14), the match highlighted.
  assert.match(await hits.nth(0).textContent(), /alpha marker two/);
  assert.equal(await hits.nth(0).locator('mark').first().textContent(), 'alpha marker');
  // While the panel is open, chat shortcuts are inert (D2): `?` outside a field opens no Help.
  await page.getByRole('log').focus();
  await page.keyboard.press('?');
  assert.equal(await page.getByRole('dialog', { name: 'Help' }).count(), 0);
  // Esc closes it (D3) and the shortcut opens it again, clean.
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'detached' });
  await page.keyboard.press('f');
  await panel.waitFor();
  assert.equal(await panel.getByLabel('Search messages').inputValue(), '');
  await panel.getByLabel('Search messages').fill('alpha marker one');
  await results().first().waitFor();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await panel.waitFor({ state: 'detached' });
  await page.locator('.msg.flash', { hasText: 'alpha marker one' }).waitFor();
  assertClean(carol.context);
});

test('the New DM and private-channel member pickers highlight the typed letters (§4)', { skip: needs(missing, ...APP, 'GET /private_channels', 'GET /channel_members/general') }, async () => {
  const page = carol.page;
  await page.getByRole('button', { name: 'New DM' }).click();
  const dm = page.getByRole('dialog', { name: 'New direct message' });
  await dm.getByRole('combobox').fill('dv');
  const option = dm.getByRole('option', { name: 'dave' });
  await option.waitFor();
  assert.deepEqual(await option.locator('mark').allTextContents(), ['d', 'v']);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  await dm.waitFor({ state: 'detached' });

  await page.getByRole('button', { name: 'Create private channel' }).click();
  const create = page.getByRole('dialog', { name: 'New private channel' });
  await create.getByLabel('Channel name').fill('Pickers');
  await create.getByRole('combobox').fill('av');
  const member = create.getByRole('option', { name: 'dave' });
  await member.waitFor();
  assert.deepEqual(await member.locator('mark').allTextContents(), ['a', 'v']);
  await page.keyboard.press('Enter');
  assert.equal(await create.getByRole('combobox').inputValue(), 'dave, ');
  await create.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('textbox', { name: 'Message Pickers' }).waitFor();

  // The Members dialog's filter highlights too.
  await page.getByRole('button', { name: /^Members/ }).first().click();
  const members = page.getByRole('dialog', { name: /Members of Pickers/ });
  await members.getByLabel('Filter').fill('dae');
  const row = members.locator('.member-name', { hasText: 'dave' });
  await row.waitFor();
  assert.deepEqual(await row.locator('mark').allTextContents(), ['d', 'a', 'e']);
  assert.equal(await members.locator('.member-name', { hasText: 'carol' }).count(), 0);
  await page.keyboard.press('Escape');
  assertClean(carol.context);
});

test('the favicon badge is steady in front and blinks gently only in the background, never with reduced motion (D9)', { skip }, async () => {
  const page = dave.page;
  await open(page, '#software');
  await open(carol.page, '#general');
  await send(carol.page, 'a message for the badge');
  const link = page.locator('link#favicon');
  await page.waitForFunction(() => document.getElementById('favicon').dataset.badge === 'steady');
  const hrefs = async (ms) => {
    const seen = new Set();
    for (let t = 0; t < ms; t += 150) {
      seen.add(await link.getAttribute('href'));
      await page.waitForTimeout(150);
    }
    return seen;
  };
  assert.equal((await hrefs(2000)).size, 1, 'steady while the page is in front');
  const setHidden = (hidden) => page.evaluate((h) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
  await setHidden(true);
  assert.equal(await link.getAttribute('data-badge'), 'blinking');
  const blinking = await hrefs(3000);
  assert.equal(blinking.size, 2, 'in the background the badge alternates between two frames');
  assert.ok([...blinking].every((h) => h.startsWith('data:image/png')), 'both frames carry the badge');
  await setHidden(false);
  assert.equal(await link.getAttribute('data-badge'), 'steady');
  assert.equal((await hrefs(2000)).size, 1, 'steady again in front');
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await setHidden(true);
  assert.equal(await link.getAttribute('data-badge'), 'steady');
  assert.equal((await hrefs(2500)).size, 1, 'never blinks with reduced motion');
  await setHidden(false);
  await page.emulateMedia({ reducedMotion: null });
  assertClean(carol.context, dave.context);
});
