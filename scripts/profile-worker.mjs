// Driver of scripts/profile-worker: one headless Chromium with V8's sampling profiler on (its logs,
// one per isolate, go to the current directory), benches/browser/profile.html doing the work.
//   node profile-worker.mjs BASE_URL OUT.json
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
const [base, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--js-flags=--prof'],
});
const page = await browser.newPage();
page.on('console', m => { if (m.type() === 'error') console.error(`  [console] ${m.text()}`); });
await page.goto(`${base}/bench/profile.html`);
await page.waitForFunction(() => window.ready === true);
writeFileSync(out, JSON.stringify(await page.evaluate(() => window.run())));
await browser.close();
