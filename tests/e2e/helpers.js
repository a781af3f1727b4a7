// Shared pieces of the browser tests: Chromium with the flags CI needs, a context that records
// every console error, page error and CSP violation (any of which fails the test), sign-up and
// log-in through the real forms, and screenshots for docs/screenshots/ and artifacts/.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const ARTIFACTS = join(ROOT, 'tests/e2e/artifacts');
export const SCREENSHOTS = join(ROOT, 'docs/screenshots');

/** `args` adds Chromium flags to the defaults (the call tests add fake media devices). */
export function launch({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...args],
  });
}

/** A fresh browser context whose problems are collected in `ctx.problems`. */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
  const problems = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  context.on('page', (page) => watch(page, problems));
  context.problems = problems;
  return context;
}

export function watch(page, problems) {
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
}

/** Fails the test if any console error, page error or CSP violation happened. */
export function assertClean(...contexts) {
  const all = contexts.flatMap((c) => c.problems)
    .filter((p) => !(process.env.E2E_TRY_MISSING && /status of 404/.test(p)));
  assert.deepEqual(all, [], `browser problems:\n${all.join('\n')}`);
}

/** Text nodes that are a stray JavaScript value ("null", "undefined", "[object Object]", "NaN"). */
const strayValues = (page) => page.evaluate(() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (/^(null|undefined|NaN|\[object \w+\])$/.test(node.nodeValue.trim())) found.push(`${node.parentElement.className}: ${node.nodeValue}`);
  }
  return found;
});

/** Saves a screenshot of a main screen, after checking it shows no stray JavaScript value. */
export async function shot(page, name, { docs = false } = {}) {
  assert.deepEqual(await strayValues(page), [], `stray values on the ${name} screen`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  if (docs) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  }
}

export const PASSWORD = 'Correct-Horse-Battery-9';

/** Signs up through the real form and waits for the app (§1: success lands in the app). */
export async function signup(page, base, username) {
  await page.goto(`${base}/signup`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel(/Confirm/).fill(PASSWORD);
  await page.getByRole('button', { name: /Sign up/i }).click();
  await composer(page).waitFor();
}

export async function login(page, base, username) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: /Log in/i }).click();
  await composer(page).waitFor();
}

export const composer = (page) => page.getByRole('textbox', { name: /^Message/ });
export const messages = (page) => page.getByRole('log').getByRole('article');

/** Posts a message through the composer and waits until its row is confirmed by the server. */
export async function send(page, text) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
  await page.locator('.msg:not(.msg-pending)', { hasText: text }).last().waitFor();
}

const GENERIC_404 = 'The requested resource was not found.';

/**
 * Which server routes the running binary lacks, found without side effects that matter: a probe
 * account signs up through the real form, then each route is asked something harmless (GETs, or
 * POSTs at message 0, which exists nowhere). A route that is missing answers the router's generic
 * 404; a route that exists answers anything else. Returns a Set of "METHOD /path" strings.
 */
export async function missingRoutes(base) {
  const missing = new Set();
  const page = await fetch(`${base}/signup`, { headers: { Accept: 'text/html' } }).catch(() => null);
  if (!page || page.status !== 200) { missing.add('GET /signup'); return missing; }
  const html = await page.text();
  const token = (/name="csrf_token" value="([^"]+)"/.exec(html) || [])[1] || '';
  const first = (page.headers.get('set-cookie') || '').split(';')[0];
  const made = await fetch(`${base}/signup`, {
    method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: first, Origin: base },
    body: new URLSearchParams({ username: 'probe', password: PASSWORD, confirm_password: PASSWORD, csrf_token: token }),
  });
  const cookie = (made.headers.get('set-cookie') || '').split(';')[0];
  if (made.status !== 302 || !cookie) { missing.add('POST /signup'); return missing; }
  const session = await (await fetch(`${base}/session`, { headers: { Cookie: cookie, Accept: 'application/json' } })).json().catch(() => ({}));
  const csrf = session.csrf_token || token;
  const probes = [
    ['GET', '/'], ['GET', '/events?channel=general'], ['GET', '/channels'], ['GET', '/users'], ['GET', '/user_colors'],
    ['GET', '/user_avatars'], ['GET', '/settings'], ['GET', '/profile/probe'], ['GET', '/presence/override'],
    ['GET', '/pins/general'], ['GET', '/search_messages?q=zzz'], ['GET', '/private_channels'], ['GET', '/dms'],
    ['GET', '/last_read/general'], ['GET', '/channel_members/general'], ['GET', '/messages_before/general?before=1'],
    ['GET', '/message/0'], ['GET', '/link_preview?url='], ['GET', '/read_receipts/general'],
    ['POST', '/edit/0'], ['POST', '/delete/0'], ['POST', '/react/0'], ['POST', '/pin/0'],
    ['POST', '/private_channels/0/rename'], ['POST', '/private_channels/0/add_member'], ['POST', '/private_channels/0/leave'],
  ];
  await Promise.all(probes.map(async ([method, path]) => {
    const controller = new AbortController();
    const response = await fetch(`${base}${path}`, {
      method, signal: controller.signal,
      headers: { Cookie: cookie, Accept: 'application/json', 'X-CSRF-Token': csrf, Origin: base, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: method === 'POST' ? 'text=x&reaction=thumbsup' : undefined,
    }).catch(() => null);
    let body = '';
    if (response && !path.startsWith('/events')) body = await response.text().catch(() => '');
    controller.abort();
    if (!response || (response.status === 404 && body.includes(GENERIC_404)) || response.status === 405) missing.add(`${method} ${path.split('?')[0]}`);
  }));
  return missing;
}

/** The skip reason for a test needing `routes`, or false when all exist. */
export function needs(missing, ...routes) {
  // E2E_TRY_MISSING=1 runs the tests anyway (404 console errors then tolerated), for finding
  // client problems while the server is incomplete; CI never sets it.
  if (process.env.E2E_TRY_MISSING) return false;
  const lacking = routes.filter((r) => missing.has(r));
  return lacking.length ? `server route not implemented yet: ${lacking.join(', ')}` : false;
}
