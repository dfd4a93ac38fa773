// Driver of scripts/bench-browser: one Chromium, one fresh browser context per engine run (an
// empty HTTP cache, so cold start pays every download; its own renderer process, so that
// process's peak resident memory is the run's), benches/browser/harness.js doing the timing.
//   node bench-browser.mjs BASE_URL OUT.json CONFIGS_JSON
// BASE_URL serves the bench site (tests/e2e/serve.py --isolated); OUT gets one result per config
// with its bytes served (/__bytes) and peak memory; the process exits 1 when any run failed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
const [base, out, configsJson] = process.argv.slice(2);
const configs = JSON.parse(configsJson);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
const cdp = await browser.newBrowserCDPSession();
/** Renderer processes: pid -> CPU seconds so far. */
const renderers = async () => new Map((await cdp.send('SystemInfo.getProcessInfo')).processInfo.filter(p => p.type === 'renderer').map(p => [p.id, p.cpuTime]));
/** Peak resident memory (VmHWM) of a process, in bytes; null for one that has exited. */
const peak = pid => {
  const path = `/proc/${pid}/status`;
  const m = existsSync(path) ? readFileSync(path, 'utf8').match(/VmHWM:\s+(\d+) kB/) : null;
  return m ? Number(m[1]) * 1024 : null;
};

const results = [];
let failed = 0;
for (const cfg of configs) {
  let renderer = null;
  const label = JSON.stringify(cfg);
  const before = await renderers();
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', m => { if (m.type() === 'error') console.error(`  [console] ${m.text()}`); });
  try {
    await fetch(`${base}/__bytes/reset`);
    await page.goto(`${base}/bench/index.html`);
    await page.waitForFunction(() => window.harnessReady === true);
    const t0 = Date.now();
    const r = await page.evaluate(c => window.bench(c), cfg);
    const served = await (await fetch(`${base}/__bytes`)).json();
    r.bytes = served.bytes;
    r.files = served.files;
    // Chromium starts a few renderers per context and may put the page in a spare one started
    // earlier: the run's renderer is the one that spent the most CPU during it; the peak is the
    // highest of every renderer alive now (the previous runs' have exited). It can still miss:
    // once the busiest renderer reported an empty page's VmHWM (the table then says "missed").
    const after = [...(await renderers())].map(([pid, cpu]) => [pid, cpu - (before.get(pid) ?? 0)]).sort((a, b) => b[1] - a[1]);
    renderer = after.length ? after[0][0] : null;
    r.renderer_cpu_s = after.length ? after[0][1] : null;
    r.renderer_peak_bytes = Math.max(0, ...after.map(([pid]) => peak(pid) ?? 0)) || null;
    r.renderer_peak_by_pid = Object.fromEntries(after.map(([pid, cpu]) => [pid, { cpu_s: cpu, peak_bytes: peak(pid) }]));
    results.push(r);
    const ms = v => (v == null ? '-' : v.toFixed(1));
    console.log(`${label}: ${((Date.now() - t0) / 1e3).toFixed(0)} s; p50 ${ms(r.p50_ms)} ms, p90 ${ms(r.p90_ms)} ms, ` +
      `${r.batch_texts_per_s ? r.batch_texts_per_s.toFixed(1) : '-'} texts/s at batch ${r.batch ?? '-'}, cold ${ms(r.cold?.total_ms)} ms, ` +
      `${(r.bytes / 1e6).toFixed(1)} MB, peak ${r.renderer_peak_bytes ? (r.renderer_peak_bytes / 2 ** 20).toFixed(0) : '?'} MiB`);
  } catch (e) {
    failed++;
    console.error(`${label}: FAILED: ${e.message.split('\n')[0]}`);
    results.push({ ...cfg, error: e.message.split('\n')[0] });
  }
  await context.close();
  // The next run's peak must not be this context's: wait for its renderer to exit.
  for (let i = 0; renderer && i < 100 && (await renderers()).has(renderer); i++) await new Promise(res => setTimeout(res, 100));
}
await browser.close();
writeFileSync(out, JSON.stringify(results));
process.exit(failed ? 1 : 0);
