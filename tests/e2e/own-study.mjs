// The page built from someone else's sweep (scripts/e2e-own-study: a tiny grid of 2 alphas x 2
// seeds trained here, its study, `web-assets --sweep DIR`), in headless Debian Chromium:
// the plots show that sweep's alphas (and only those), the model picker offers its shipped
// checkpoints, and the Reproduce view reproduces one of its figures.
//   node tests/e2e/own-study.mjs BASE_URL OUT_DIR EXPECTED_JSON
// EXPECTED_JSON: {alphas: [...], models: [...], reproduce: {task, model}}.
import { createRequire } from 'module';
import fs from 'fs';
const require = createRequire(process.env.PLAYWRIGHT_CORE || import.meta.url);
const { chromium } = require('playwright-core');

const [base, out, expectedPath] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
fs.mkdirSync(out, { recursive: true });
const failures = [];
const check = (ok, msg) => { if (!ok) { failures.push(msg); console.log('FAIL:', msg); } else console.log('ok:', msg); };
const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  page.on('pageerror', e => failures.push(`page error ${e.message}`));
  await page.goto(`${base}/?backend=cpu`);
  await page.waitForSelector('[data-testid=backend], [data-testid=error]', { timeout: 600000 });
  const offered = await page.$$eval('[data-testid=model] option', els => els.map(e => e.value));
  check(same(offered, expected.models), `the model picker offers the sweep's shipped models ${expected.models}: ${offered}`);
  await page.click('[data-testid=tab-charts]');
  await page.waitForSelector('svg.chart.change', { timeout: 600000 });
  // The x-axis labels are the sweep's alphas, not the main grid's five.
  const ticks = await page.$$eval('svg.chart.change g.axes text[text-anchor=middle]', els => els.map(e => e.textContent.trim()));
  const alphaTicks = [...new Set(ticks.filter(t => /^-?\d+(\.\d+)?$/.test(t)))];
  check(same(alphaTicks, expected.alphas.map(String)), `the plots' alpha axis shows the sweep's alphas ${expected.alphas}: ${alphaTicks}`);
  const marked = await page.$$eval('svg.chart.change circle[data-alpha]', els => [...new Set(els.map(e => e.getAttribute('data-alpha')))]);
  check(same(marked.map(Number), expected.alphas), `every plotted point is one of the sweep's alphas: ${marked}`);
  await page.screenshot({ path: `${out}/own-study-charts.png`, fullPage: true });

  const rp = expected.reproduce;
  await page.goto(`${base}/?backend=cpu&view=reproduce&task=${rp.task}&model=${rp.model}`);
  await page.waitForSelector('[data-testid=reproduce-run]:not([disabled])', { timeout: 600000 });
  await page.click('[data-testid=reproduce-run]');
  await page.waitForSelector('[data-testid=reproduce-verdict], [data-testid=reproduce-error]', { timeout: 600000 });
  const ok = await page.getAttribute('[data-testid=reproduce-verdict]', 'data-ok').catch(e => `missing (${e.message.split('\n')[0]})`);
  const text = ((await page.textContent('[data-testid=reproduce-table]').catch(() => '')) || (await page.textContent('[data-testid=reproduce-error]').catch(() => '')) || '');
  check(ok === 'true', `Reproduce ${rp.task} with ${rp.model} of the sweep passes its verdict: ${text.slice(0, 160)}`);
  await page.screenshot({ path: `${out}/own-study-reproduce.png`, fullPage: true });
} catch (e) {
  check(false, `own-study page: ${e.message}`);
} finally {
  await browser.close();
}
if (failures.length) { console.log(`${failures.length} failure(s)`); process.exit(1); }
console.log('own-study e2e passed');
