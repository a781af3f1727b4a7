// Browser tests of what the real binary serves today without a session: the embedded, hashed
// client modules (their rewritten import graph evaluates under the strict CSP), the reaction table
// and the highlighter as shipped, the offline page, the manifest and the service worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.js';
import { launch, newContext, assertClean, shot } from './helpers.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function shellList() {
  const sw = await (await fetch(`${server.base}/sw.js`)).text();
  const m = /const SHELL = (\[[^\]]*\])/.exec(sw);
  assert.ok(m, 'sw.js lists the app shell');
  return JSON.parse(m[1]);
}

test('the offline page loads clean under the CSP', async () => {
  const context = await newContext(browser);
  const page = await context.newPage();
  const response = await page.goto(`${server.base}/static/offline.html`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] || '', /script-src 'self'/);
  await shot(page, 'offline', { docs: true });
  await context.close();
  assertClean(context);
});

test('every client module evaluates from its hashed URL without CSP violations', async () => {
  const shell = await shellList();
  // Entry scripts start the app or a page's hints when evaluated; the rest are side-effect free.
  const modules = shell.filter((u) => u.endsWith('.js') && !/\/js\/(app|auth|offline)\./.test(u));
  assert.ok(modules.length >= 20, `found ${modules.length} modules`);
  const context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${server.base}/static/offline.html`);
  const failures = await page.evaluate(async (urls) => {
    const bad = [];
    for (const url of urls) {
      try { await import(url); } catch (err) { bad.push(`${url}: ${err.message}`); }
    }
    return bad;
  }, modules);
  assert.deepEqual(failures, []);
  await context.close();
  assertClean(context);
});

test('the shipped reaction table has exactly the 477 names with a glyph each', async () => {
  const shell = await shellList();
  const emojiUrl = shell.find((u) => /\/js\/emoji\./.test(u));
  const context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${server.base}/static/offline.html`);
  const result = await page.evaluate(async (url) => {
    const m = await import(url);
    const names = m.CATEGORIES.flatMap((c) => c.emojis.map(([n]) => n));
    return { count: names.length, unique: new Set(names).size, blank: names.filter((n) => !m.EMOJI[n]), first: m.searchEmoji('tada')[0] };
  }, emojiUrl);
  assert.equal(result.count, 477);
  assert.equal(result.unique, 477);
  assert.deepEqual(result.blank, []);
  assert.equal(result.first, 'tada');
  await context.close();
  assertClean(context);
});

test('every language in the code picker is highlighted (D6)', async () => {
  const shell = await shellList();
  const url = shell.find((u) => /\/js\/highlight\./.test(u));
  const samples = {
    python: 'def f(x):\n    return 1  # one', javascript: 'const x = 1;', typescript: 'interface A { x: number }',
    c: '#include <stdio.h>\nint main(void) { return 0; }', cpp: 'class A { public: int x; };', java: '@Override public void run() { int x = 2; }',
    go: 'func main() { var x int }', rust: 'fn main() { let x = 1; }', bash: 'if [ -f x ]; then echo "$HOME"; fi',
    makefile: 'all: main.o\n\t$(CC) -o $@ $^', cmake: 'cmake_minimum_required(VERSION 3.10)\nset(X ${Y})',
    groovy: "pipeline { stages { stage('x') { steps { sh 'make' } } } }", vhdl: "signal s : std_logic := '0';",
    verilog: "module m; assign x = 8'hFF; endmodule", html: '<a href="x">t</a>', xml: '<?xml version="1.0"?><a b="c"/>',
    json: '{"a": [1, true, null]}',
  };
  const context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${server.base}/static/offline.html`);
  const classes = await page.evaluate(async ([moduleUrl, input]) => {
    const m = await import(moduleUrl);
    const out = {};
    for (const [lang, code] of Object.entries(input)) out[lang] = [...new Set(m.tokenize(code, lang).map(([c]) => c).filter(Boolean))];
    return out;
  }, [url, samples]);
  for (const [lang, found] of Object.entries(classes)) {
    assert.ok(found.length >= 2, `${lang} highlighted with ${found.join(', ') || 'nothing'}`);
  }
  await context.close();
  assertClean(context);
});

test('the manifest makes the app installable and the service worker is served at the root', async () => {
  const manifest = await (await fetch(`${server.base}/manifest.webmanifest`)).json();
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.display, 'standalone');
  const sizes = manifest.icons.map((i) => `${i.sizes}:${i.purpose || 'any'}`);
  for (const want of ['192x192:any', '512x512:any', '192x192:maskable', '512x512:maskable']) assert.ok(sizes.includes(want), `${want} in ${sizes}`);
  const sw = await fetch(`${server.base}/sw.js`);
  assert.equal(sw.headers.get('service-worker-allowed'), '/');
});
