// Driver of scripts/bench-reproduce: one headless Chromium (CPU path, as this machine has no GPU),
// one page per run of the "Reproduce" view; each finished run is appended to the JSON file.
//   node scripts/bench-reproduce.mjs BASE_URL OUT.json GIT_COMMIT task:size:mode ...
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.env.PLAYWRIGHT_CORE || import.meta.url);
const { chromium } = require('playwright-core');

const [base, outPath, commit, ...runs] = process.argv.slice(2);
const manifest = await (await fetch(`${base}/assets/manifest.json`)).json();
const bundle = { created_unix: manifest.created_unix, git_commit: manifest.git_commit, default_model: manifest.default_model };
const read = () => fs.existsSync(outPath) ? JSON.parse(fs.readFileSync(outPath, 'utf8')) : { runs: [] };
const done = r => read().runs.some(x => x.bundle.created_unix === bundle.created_unix && x.task === r.task && x.size === r.size && x.mode === r.mode);
// BENCH_PARALLEL=1: every run in its own browser at once (the worker is single-threaded, so two
// runs use the two cores); each run records what it ran beside.
const parallel = process.env.BENCH_PARALLEL === '1';
const launch = () => chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const shared = parallel ? null : await launch();
let failed = 0;

async function measure(spec) {
  const [task, size, mode] = spec.split(':');
  const run = { task, size, mode, model: bundle.default_model };
  if (done(run)) { console.log(`${spec}: already measured for this bundle`); return; }
  const browser = shared || await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const q = new URLSearchParams({ backend: 'cpu', view: 'reproduce', task, model: run.model, ...(size === 'whole' ? { size } : {}), ...(mode === 'scratch' ? { mode } : {}) });
  await page.goto(`${base}/?${q}`);
  await page.waitForSelector('[data-testid=reproduce-run]:not([disabled])', { timeout: 600000 });
  const t0 = Date.now();
  await page.click('[data-testid=reproduce-run]');
  const timer = setInterval(async () => {
    const p = await page.textContent('[data-testid=reproduce-progress]').catch(e => `(no progress line: ${e.message.split('\n')[0]})`);
    console.log(`${spec}: ${p}`);
  }, 60000);
  await page.waitForSelector('[data-testid=reproduce-verdict], [data-testid=reproduce-error]', { timeout: 0 });
  clearInterval(timer);
  run.wall_s = (Date.now() - t0) / 1000;
  const error = await page.$('[data-testid=reproduce-error]');
  if (error) {
    console.log(`${spec}: ${await error.textContent()}`);
    failed += 1;
  } else {
    run.verdict = await page.textContent('[data-testid=reproduce-verdict]');
    run.ok = (await page.getAttribute('[data-testid=reproduce-verdict]', 'data-ok')) === 'true';
    run.figures = JSON.parse(await page.getAttribute('[data-testid=reproduce-table]', 'data-figures'));
    run.rows = await page.$$eval('[data-testid=reproduce-table] tr[data-figure]', trs => trs.map(tr => [...tr.children].map(td => td.textContent)));
    run.timings = await page.textContent('[data-testid=reproduce-timings]');
    run.source = await page.textContent('[data-testid=reproduce-source]');
    run.bundle = bundle;
    run.git_commit = commit;
    run.machine = 'this project\'s 2-core dev machine, headless Debian Chromium, CPU path (Burn Flex in wasm, 1 thread)';
    if (parallel) run.ran_beside = runs.filter(r => r !== spec);
    await page.screenshot({ path: `target/bench-reproduce-${task}-${size}-${mode}.png`, fullPage: true });
    // Read again before writing: a run beside this one may have finished meanwhile.
    const doc = read();
    doc.runs.push(run);
    fs.writeFileSync(outPath, JSON.stringify(doc, null, 1));
    console.log(`${spec}: ${run.wall_s} s, ${run.verdict} ${run.timings}`);
  }
  await page.close();
  if (!shared) await browser.close();
}

if (parallel) {
  await Promise.all(runs.map(measure));
} else {
  for (const spec of runs) await measure(spec);
}
if (shared) await shared.close();
process.exit(failed ? 1 : 0);
