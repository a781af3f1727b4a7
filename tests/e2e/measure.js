// Client measurements for issue 5 (N5, N10): cold-load bytes and time to a usable channel, DOM
// size after scrolling back through 10,000 messages, and long tasks while 50 messages/s arrive.
// Runs against the in-memory mock (mock-server.js) because it needs a 10,000-message history
// and a steady feed; the cold-load byte count comes from the real binary's compressed assets
// when MINIMOST_BASE points at a running server. Usage: node measure.js
import { chromium } from 'playwright-core';
import { startMock } from './mock-server.js';

const LAUNCH = { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] };

async function coldLoad(browser, base) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  const t0 = Date.now();
  await page.goto(`${base}/?as=alice`);
  await page.getByRole('textbox', { name: /^Message #/ }).waitFor();
  await page.locator('.msg').first().waitFor();
  const usable = Date.now() - t0;
  await page.waitForTimeout(500);
  await context.close();
  return { bytes, usable };
}

async function main() {
  const mock = await startMock();
  mock.seed('general', 10000);
  const browser = await chromium.launch(LAUNCH);
  const cold = await coldLoad(browser, mock.base);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${mock.base}/?as=alice`);
  await page.locator('.msg').first().waitFor();
  // Scroll back to the very start, paging 100 at a time.
  for (let i = 0; i < 400; i += 1) {
    const done = await page.evaluate(() => {
      const list = document.querySelector('.message-list');
      list.scrollTop = 0;
      list.dispatchEvent(new Event('scroll'));
      return Boolean(document.querySelector('.conversation-start'));
    });
    if (done) break;
    await page.waitForTimeout(40);
  }
  const reachedStart = await page.locator('.conversation-start').count();
  const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
  const rows = await page.evaluate(() => document.querySelectorAll('.msg').length);
  // Back to the bottom, then 50 messages a second for 5 s while watching for long tasks.
  await page.keyboard.press('Escape');
  await page.evaluate(() => { window.longTasks = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longTasks.push([Math.round(e.startTime - (window.feedStart || 0)), Math.round(e.duration)]); }).observe({ entryTypes: ['longtask'] }); });
  await page.locator('.message-list').focus();
  await page.keyboard.press('G');
  await page.waitForTimeout(1000);
  await page.evaluate(() => { window.feedStart = performance.now(); });
  for (let i = 0; i < 250; i += 1) {
    mock.post('general', 'bob', `Live message ${i} with a [link](https://example.com) and **bold** text`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await page.waitForTimeout(500);
  const longTasks = await page.evaluate(() => window.longTasks);
  const nodesAfterFeed = await page.evaluate(() => document.getElementsByTagName('*').length);
  console.log(JSON.stringify({
    coldLoadBytesUncompressedMock: cold.bytes, navigationToUsableMs: cold.usable,
    reachedStart: reachedStart === 1, domNodesAfter10000: nodes, renderedRows: rows,
    longTasksOver50ms: longTasks.filter(([, d]) => d > 50), nodesAfterFeed,
  }, null, 2));
  await browser.close();
  await mock.stop();
}

main().catch((err) => { console.error(err); process.exit(1); });
