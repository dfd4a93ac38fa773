// End-to-end test of the web page in headless Debian Chromium (driven by scripts/e2e).
//   node tests/e2e/e2e.mjs BASE_URL OUT_DIR EXPECTED_JSON
// EXPECTED_JSON: {models: [m1, m2], queries: [{lang, text}], top5: {model: {text: [ids]}}}, computed
// by the native CLI on the same bundle (`hybrid-ir search --assets`). Checks: the page loads on the
// CPU path, queries in six scripts give the native top-5, switching checkpoints works, a shared URL
// restores the state, the plots render; then the WebGPU path where Chromium offers an adapter.
import { createRequire } from 'module';
import fs from 'fs';
const require = createRequire(process.env.PLAYWRIGHT_CORE || import.meta.url);
const { chromium } = require('playwright-core');

const [base, out, expectedPath] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
const [m1, m2] = expected.models;
fs.mkdirSync(out, { recursive: true });
const COMMON = ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];
// WebGPU without a GPU: Chromium's SwiftShader Vulkan device (found by trial on this machine).
const WEBGPU = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--ignore-gpu-blocklist'];
const failures = [];
const report = { native: { query_ms: expected.native_ms[m1] }, cpu: {}, webgpu: {} };
const check = (ok, msg) => { if (!ok) { failures.push(msg); console.log('FAIL:', msg); } else console.log('ok:', msg); };

// Served under a sub-path (scripts/e2e: /hybrid-ir/), as on a static host: the server refuses
// anything outside it, so a page asking for an absolute /assets/... path fails below.
const subPath = new URL(base).pathname.replace(/\/$/, '');
if (subPath) {
  const outside = await fetch(`${new URL(base).origin}/assets/manifest.json`);
  check(outside.status === 404, `the page is served under ${subPath}/ only (outside it: ${outside.status})`);
}

async function ready(page, timeout = 600000) {
  await page.waitForSelector('[data-testid=backend], [data-testid=error]', { timeout });
  const err = await page.$('[data-testid=error]');
  if (err) throw new Error('page error: ' + (await err.textContent()));
  return (await page.textContent('[data-testid=backend]')).trim();
}

async function search(page, model, q, timeout = 300000) {
  // A language the picker lacks fails the run (selectOption throws), never passes silently.
  await page.selectOption('[data-testid=lang]', q.lang);
  await page.fill('[data-testid=query]', q.text);
  await page.click('[data-testid=search]');
  return results(page, model, q.text, timeout);
}

async function results(page, model, text, timeout = 300000) {
  const sel = `section.column[data-model="${model}"][data-query="${text.replace(/"/g, '\\"')}"]`;
  try {
    await page.waitForSelector(sel, { timeout });
  } catch (e) {
    // Say what the page showed instead: its error box, its status line, a screenshot.
    const shown = async s => ((await page.$(s)) ? (await page.textContent(s)) : '(none)').slice(0, 300);
    await page.screenshot({ path: `${out}/timeout-${model}.png`, fullPage: true }).catch(() => {});
    throw new Error(`no results of ${model} for "${text.slice(0, 40)}": error box ${await shown('[data-testid=error]')}; status ${await shown('.status')}; ${e.message.split('\n')[0]}`);
  }
  const ids = await page.$$eval(`${sel} li[data-id]`, els => els.slice(0, 5).map(e => e.dataset.id));
  const ms = parseFloat(await page.getAttribute(sel, 'data-encode-ms'));
  return { ids, ms };
}

async function run(flags, path, label) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...COMMON, ...flags] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  page.on('pageerror', e => failures.push(`${label}: page error ${e.message}`));
  const t0 = Date.now();
  await page.goto(`${base}/${path}`);
  const backend = await ready(page);
  return { browser, page, backend, loadS: (Date.now() - t0) / 1000 };
}

// Bytes the server sent since the last reset (tests/e2e/serve.py counts them).
const served = async (reset = false) => (await fetch(`${base}/__bytes${reset ? '/reset' : ''}`)).json();
const BUDGET = parseFloat(process.env.E2E_BUDGET_BYTES || '0');

// Static constructors run once (web::run_constructors): linked "command-style", the worker ran its
// ~4,900 on every call into wasm, which cost 17 ms a query (scripts/bench-browser, worker_ms).
for (const f of ['hybrid-ir-web.js', 'hybrid-ir-worker.js']) {
  const r = await fetch(`${base}/${f}`);
  const glue = r.ok ? await r.text() : '';
  check(r.ok && !glue.includes('_command_export'), `${f} is served (${r.status}) and calls no command-style export (constructors run once)`);
}

// --- CPU path (always) ---
{
  await served(true);
  // A fresh browser profile: nothing cached, so this is what a first visit transfers.
  const { browser, page, backend, loadS } = await run(['--disable-gpu'], `?backend=cpu&model=${m1}`, 'cpu');
  check(backend === 'CPU', `CPU path: backend badge says ${backend}`);
  report.cpu.load_s = loadS;
  report.cpu.status = await page.textContent('.status');
  // Chromium validates wasm relaxed SIMD: the page starts the worker built for it.
  check(report.cpu.status.includes('relaxed-SIMD build'), `the page started the relaxed-SIMD worker: "${report.cpu.status.slice(0, 160)}"`);
  const loadBytes = await served();
  report.transfer = { load_bytes: loadBytes.bytes, files: loadBytes.files };
  report.cpu.query_ms = [];
  // The pool is said in one line: its size and what it holds.
  const pools = (await (await fetch(`${base}/assets/manifest.json`)).json()).pools;
  const note = (await page.textContent('[data-testid=pool-note]')) || '';
  check(note.includes(`${pools[0].count} short answers`) && note.includes('finds only what the pool holds'), `the pool is described: "${note.slice(0, 90)}"`);
  for (const q of expected.queries) {
    const r = await search(page, m1, q);
    report.cpu.query_ms.push(r.ms);
    if (!report.transfer.first_query_bytes) {
      report.transfer.first_query_bytes = (await served()).bytes - loadBytes.bytes;
      const total = loadBytes.bytes + report.transfer.first_query_bytes;
      console.log(`transfer: page ready after ${(loadBytes.bytes / 1e6).toFixed(2)} MB, first query +${(report.transfer.first_query_bytes / 1e6).toFixed(2)} MB`);
      if (BUDGET > 0) check(total <= BUDGET, `first visit plus first query transfers ${(total / 1e6).toFixed(2)} MB <= ${(BUDGET / 1e6).toFixed(0)} MB`);
    }
    check(JSON.stringify(r.ids) === JSON.stringify(expected.top5[m1][q.text]),
      `${q.lang} "${q.text}": browser top-5 ${r.ids} = native ${expected.top5[m1][q.text]}`);
    await page.screenshot({ path: `${out}/cpu-${q.lang}.png`, fullPage: true });
  }
  // The offline copy of a first visit holds the worker's wasm (stored as it passed through the
  // service worker, which the page registers before it starts the worker).
  const shell = await page.evaluate(async () => (await (await caches.open('hybrid-ir-shell-v2')).keys()).map(r => new URL(r.url).pathname));
  check(['hybrid-ir-worker-relaxed_bg.wasm', 'hybrid-ir-worker_loader.js', 'hybrid-ir-web_bg.wasm', 'assets/manifest.json'].every(f => shell.some(p => p.endsWith(f))),
    `a first visit leaves the offline copy of the page (${shell.length} files)`);
  // Switch checkpoint: the page reloads the model and re-runs the query. The first try meets a
  // corrupted file (the server inverts its bytes): the page says so, and Retry recovers
  // without a reload once the file is whole again.
  const last = expected.queries[expected.queries.length - 1];
  await page.fill('[data-testid=query]', last.text);
  await page.click('[data-testid=search]');
  await results(page, m1, last.text);
  const bundle = await (await fetch(`${base}/assets/manifest.json`)).json();
  const entry2 = bundle.models.find(m => m.name === m2);
  const victim = '/assets/' + (entry2.delta ? entry2.delta.path : (entry2.pools.mkqa || Object.values(entry2.pools)[0]).path);
  await fetch(`${base}/__corrupt?path=${encodeURIComponent(victim)}`);
  await page.selectOption('[data-testid=model]', m2);
  await page.waitForSelector('[data-testid=error]', { timeout: 300000 });
  const corruptMsg = await page.textContent('[data-testid=error]');
  check(corruptMsg.includes('sha256') && corruptMsg.includes(victim.slice(8)), `a corrupted ${victim} is reported: ${corruptMsg.slice(0, 160)}`);
  await fetch(`${base}/__corrupt?path=${encodeURIComponent(victim)}&off=1`);
  await page.click('[data-testid=retry]');
  const r2 = await results(page, m2, last.text);
  check(JSON.stringify(r2.ids) === JSON.stringify(expected.top5[m2][last.text]), `after switching to ${m2} (and a retry): top-5 = native`);
  // Side by side.
  await page.selectOption('[data-testid=cmp]', m1);
  await results(page, m1, last.text);
  check((await page.$$('section.column')).length === 2, 'side-by-side shows two result columns');
  await page.screenshot({ path: `${out}/cpu-side-by-side.png`, fullPage: true });
  const shared = page.url();
  // The engine crashes (its panic message, as the worker's panic hook sends it): the page says
  // so, starts a fresh worker, reloads the models and runs the query again, without a reload.
  const before = page.workers();
  check(before.length === 1, `one inference worker runs (${before.length})`);
  await before[0].evaluate(() => self.postMessage({ Crashed: { message: 'the engine crashed: simulated by the e2e test' } }));
  await page.waitForSelector('[data-testid=error]', { timeout: 10000 });
  check((await page.textContent('[data-testid=error]')).includes('restarted'), 'a crash is reported and the engine restarted');
  await page.waitForSelector('[data-testid=error]', { state: 'detached', timeout: 300000 });
  const rc = await results(page, m2, last.text);
  check(JSON.stringify(rc.ids) === JSON.stringify(expected.top5[m2][last.text]), 'after the restart the query runs again: top-5 = native');
  check(page.workers().length === 1 && page.workers()[0] !== before[0], 'the crashed worker was replaced');
  // A real wasm trap: the worker's linear memory overwritten (0xFF everywhere, through the
  // wasm-bindgen handle its script keeps), then a search. The engine traps inside wasm; the
  // worker's error event reaches the page, which replaces the worker and answers the query.
  const trapped = page.workers()[0];
  await trapped.evaluate(() => { const e = wasm_bindgen.initSync(); new Uint8Array(e.memory.buffer).fill(0xff); });
  await page.click('[data-testid=search]');
  await page.waitForSelector('[data-testid=error]', { timeout: 60000 });
  const trapMsg = await page.textContent('[data-testid=error]');
  check(/RuntimeError|unreachable|out of bounds|crashed/i.test(trapMsg) && trapMsg.includes('restarted'), `a wasm trap is reported and the engine restarted: ${trapMsg.slice(0, 160)}`);
  await page.waitForSelector('[data-testid=error]', { state: 'detached', timeout: 300000 });
  const rt = await results(page, m2, last.text);
  check(JSON.stringify(rt.ids) === JSON.stringify(expected.top5[m2][last.text]), 'after the trap the query runs again: top-5 = native');
  check(page.workers().length === 1 && page.workers()[0] !== trapped, 'the trapped worker was replaced');
  // A 100,000-character query (pasted past the box's limit, which the test lifts): cut to the
  // first 500 characters, said on the page, answered in the usual time. (A URL that long is
  // refused by servers before the page sees it: Python's at 64 KB, nginx's at 8 KB.)
  await page.selectOption('[data-testid=cmp]', '');
  // Let the page settle (one column, no search or load in flight) before typing, so no
  // re-render or re-run of the previous query races the new one.
  await page.waitForFunction(() => document.querySelectorAll('section.column').length === 1
    && !document.querySelector('[data-testid=search]').textContent.includes('Searching')
    && !document.querySelector('.status progress'), null, { timeout: 300000 });
  await page.$eval('[data-testid=query]', el => el.removeAttribute('maxlength'));
  await page.fill('[data-testid=query]', 'a'.repeat(100000));
  check((await page.inputValue('[data-testid=query]')).length === 100000, 'the box holds the 100,000 characters');
  await page.click('[data-testid=search]');
  const rl = await results(page, m2, 'a'.repeat(500));
  check(((await page.textContent('[data-testid=query-cut]')) || '').includes('99500 more were dropped'), 'a 100,000-character query is cut and the page says so');
  const typical = [...report.cpu.query_ms].sort((a, b) => a - b)[Math.floor(report.cpu.query_ms.length / 2)];
  check(rl.ms <= Math.max(5 * typical, 2000), `the cut query encodes in normal time (${rl.ms} ms vs median ${typical} ms)`);
  report.cpu.long_query_ms = rl.ms;
  // A word-table shard that is gone (HTTP 404): the error names the shard and the status; once
  // the files are back, the same query runs without a reload. Georgian script: rows of the word
  // table no earlier query of this run fetched (a fresh browser profile, so nothing is cached).
  const shardQuery = 'რომელია მსოფლიოში ყველაზე გრძელი მდინარე?';
  const words = `/assets/${(await (await fetch(`${base}/assets/manifest.json`)).json()).words.dir}/`;
  await fetch(`${base}/__missing?path=${encodeURIComponent(words)}`);
  await page.fill('[data-testid=query]', shardQuery);
  await page.click('[data-testid=search]');
  await page.waitForSelector('[data-testid=error]', { timeout: 300000 });
  const shardMsg = await page.textContent('[data-testid=error]');
  check(shardMsg.includes(words.slice(1)) && shardMsg.includes('404'), `a missing word-table shard is named with its HTTP status: ${shardMsg.slice(0, 160)}`);
  await fetch(`${base}/__missing?path=${encodeURIComponent(words)}&off=1`);
  await page.click('[data-testid=search]');
  const shardOnline = await results(page, m2, shardQuery);
  check(!(await page.$('[data-testid=error]')), 'with the shards back, the same query runs without a reload');
  // The network gone after a visit: the server drops every request. A reload starts from the
  // service worker's copy of the page (www/sw.js) and the model files the page keeps in the Cache
  // API, and the URL's query is answered again, the same as online.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 30000 });
  await fetch(`${base}/__down`);
  await page.reload();
  const offline = await results(page, m2, shardQuery).catch(e => ({ error: e.message }));
  await fetch(`${base}/__down?off=1`);
  check(!offline.error && JSON.stringify(offline.ids) === JSON.stringify(shardOnline.ids),
    `offline reload: the page starts from its caches and answers as online ${offline.error || offline.ids}`);
  await page.screenshot({ path: `${out}/cpu-offline.png` });
  // A shared URL restores query, language, checkpoints and view.
  const page2 = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await page2.goto(shared);
  await ready(page2);
  const r3 = await results(page2, m2, last.text);
  check(JSON.stringify(r3.ids) === JSON.stringify(r2.ids), 'shared URL: same results');
  check((await page2.inputValue('[data-testid=query]')) === last.text, 'shared URL: same query');
  check((await page2.inputValue('[data-testid=model]')) === m2, 'shared URL: same model');
  check((await page2.inputValue('[data-testid=cmp]')) === m1, 'shared URL: same comparison');
  check((await page2.inputValue('[data-testid=lang]')) === last.lang, 'shared URL: same language');
  await page2.click('[data-testid=tab-charts]');
  const appears = (page, sel, timeout) => page.waitForSelector(sel, { timeout }).then(() => true, () => false);
  check(await appears(page2, 'svg.chart', 60000), 'the charts view draws svg.chart');
  check(page2.url().includes('view=charts'), 'charts view is in the URL');
  check((await page2.$$('svg.chart circle')).length > 0, 'the plots are drawn with data points');
  await page2.screenshot({ path: `${out}/charts.png`, fullPage: true });
  // The study's statistics: seed spread (whiskers), marks that say whether the paired interval
  // versus the base excludes zero, the paired differences between alphas, the bias trend.
  const bundled = await (await fetch(`${base}/assets/results/sweep.json`)).json();
  check(!!bundled.study, 'the bundle carries the study (results/study/study.json)');
  const marks = await page2.$$eval('svg.chart.change circle', els => els.map(e => e.getAttribute('class')));
  check(marks.length >= 3, `change-vs-base plots have points (${marks.length})`);
  check(marks.includes('sig'), 'some alpha differs from the base with a paired interval excluding zero');
  check((await page2.$$('svg.chart.change line.whisker')).length === marks.length, 'every point has a seed-spread whisker');
  check((await page2.$$('[data-testid=contrasts] tr')).length >= 2, 'paired differences between alphas are listed');
  // The marks follow the study's seed-aware intervals (seeds, then questions or articles,
  // resampled), and the captions say so.
  check(bundled.study.version >= 2 && bundled.study.resampling && bundled.study.resampling.seeds === true,
    `the bundled study resamples seeds (${JSON.stringify(bundled.study.resampling)})`);
  check(/seed-aware/.test((await page2.textContent('[data-testid=charts-caption]')) || ''), 'the plots caption says the intervals are seed-aware');
  check(/seed-aware/.test((await page2.textContent('[data-testid=contrasts] th')) || ''), 'the paired-difference table says seed-aware');
  {
    const shownTask = await page2.inputValue('[data-testid=task]');
    const st = bundled.study.tasks.find(t => t.task === shownTask);
    const circles = await page2.$$eval('svg.chart.change circle', els => els.map(e => [e.getAttribute('data-alpha'), e.getAttribute('data-fig'), e.getAttribute('class')]));
    const wrong = circles.filter(([a, f, cls]) => {
      const c = st && st.contrasts.find(c => c.a === a && c.b === 'base');
      const iv = c && c.figures[f];
      return !iv || ((iv.lo > 0 || iv.hi < 0) !== (cls === 'sig'));
    });
    check(circles.length > 0 && wrong.length === 0, `every mark is filled exactly where the seed-aware interval excludes zero (${wrong.length} of ${circles.length} differ: ${JSON.stringify(wrong.slice(0, 3))})`);
  }
  check(((await page2.textContent('[data-testid=trend]')) || '').includes('ranks per unit alpha'), 'the bias trend is stated');
  await page2.selectOption('[data-testid=heat]', m1 !== 'base' ? m1 : m2);
  await page2.selectOption('[data-testid=hm]', 'delta');
  check(await appears(page2, 'svg.heatmap.delta', 10000), 'the heat-map switches to the change versus the base');
  const fills = await page2.$$eval('svg.heatmap.delta rect', els => els.map(e => e.getAttribute('fill')));
  check(fills.filter(f => f !== 'rgb(255,255,255)' && f !== '#eee').length > 11,
    `heat-map shows a checkpoint's change versus the base (${fills.length} cells)`);
  check(page2.url().includes('hm=delta'), 'heat-map mode is in the URL');
  await page2.screenshot({ path: `${out}/charts-delta.png`, fullPage: true });
  // The bias view: one question in every language, a matrix per model computed in the page,
  // equal to the native matrix of the same bundle (`hybrid-ir bias-matrix`); its URL restores it.
  const [qDefault, qTies] = expected.matrix_questions;
  const matrixOf = async (pg, model, qid) => {
    const sel = `section[data-testid=matrix][data-model="${model}"][data-question="${qid}"]`;
    await pg.waitForSelector(sel, { timeout: 300000 });
    return JSON.parse(await pg.getAttribute(sel, 'data-ranks'));
  };
  // A cell may differ from native only inside its band: the ranks a near-tie within float
  // noise can give (`bias-matrix --tolerance`); deep in a pool of 25,000 answers such ties are
  // common (one flipped 15,093 to 15,094). Cells with no near-tie must be equal.
  const sameMatrix = (shown, native, what) => {
    const diff = [], inBand = [];
    native.ranks.forEach((row, i) => row.forEach((c, j) => {
      const got = shown[i]?.[j], lo = native.band.low[i][j], hi = native.band.high[i][j];
      const cell = `${native.query_langs[i]}->${native.answer_langs[j]}: ${got} vs ${c}`;
      if (got === c) return;
      if (c !== null && got !== null && got >= lo && got <= hi) inBand.push(`${cell} (band ${lo}-${hi})`);
      else diff.push(`${cell}${lo !== hi ? ` (band ${lo}-${hi})` : ''}`);
    }));
    check(diff.length === 0 && shown.length === native.ranks.length,
      `${what}: page matrix = native (${native.ranks.length}x${native.answer_langs.length}${diff.length ? '; differs at ' + diff.slice(0, 5).join(', ') : ''}` +
      `${inBand.length ? `; ${inBand.length} near-tie cell(s) inside their float band: ${inBand.slice(0, 3).join(', ')}` : ''})`);
  };
  await page2.click('[data-testid=tab-bias]');
  for (const m of [m2, m1]) sameMatrix(await matrixOf(page2, m, qDefault), expected.matrices[qDefault][m], `bias view ${m}, default question ${qDefault}`);
  check(page2.url().includes('view=bias'), 'bias view is in the URL');
  const caption = (await page2.textContent('[data-testid=matrix-caption]')) || '';
  check(caption.includes('diagonal') && caption.includes('in your browser'), 'the matrix says what to look at');
  const summaries = await page2.$$eval('[data-testid=matrix-summary]', els => els.map(e => e.textContent));
  check(summaries.length === 2 && summaries.every(t => /own language ranked first in \d+(\.\d)? of \d+ rows/.test(t)), `each matrix has its summary: ${summaries[0]}`);
  const cells = await page2.$$eval('table.matrix td[style]', els => els.map(e => e.getAttribute('style')));
  check(cells.length > 0 && cells.every(c => c.includes('hsl(')), `cells are coloured by rank (${cells.length})`);
  await page2.screenshot({ path: `${out}/bias.png`, fullPage: true });
  await page2.selectOption('[data-testid=question]', qTies);
  for (const m of [m2, m1]) sameMatrix(await matrixOf(page2, m, qTies), expected.matrices[qTies][m], `bias view ${m}, MKQA question ${qTies}`);
  check(page2.url().includes(`question=${encodeURIComponent(qTies)}`), 'the question is in the URL');
  const page3 = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await page3.goto(page2.url());
  await ready(page3);
  sameMatrix(await matrixOf(page3, m2, qTies), expected.matrices[qTies][m2], 'shared bias URL');
  check((await page3.inputValue('[data-testid=question]')) === qTies, 'shared bias URL: same question');
  await page3.close();
  // The Reproduce view: the sample of held-out XQuAD-R against the shipped index, encoded and
  // scored in the page; its verdict against the bundle's reference passes, and its figures equal
  // the native run of the same path (`hybrid-ir reproduce`). A long run shows progress with the
  // time left, the page stays responsive, and Cancel stops it.
  {
    const rp = expected.reproduce;
    const page6 = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page6.on('pageerror', e => failures.push(`reproduce: page error ${e.message}`));
    await page6.goto(`${base}/?backend=cpu&view=reproduce&task=${rp.task}&model=${rp.model}`);
    await page6.waitForSelector('[data-testid=reproduce-run]:not([disabled])', { timeout: 600000 });
    const t0 = Date.now();
    await page6.click('[data-testid=reproduce-run]');
    await page6.waitForSelector('[data-testid=reproduce-verdict], [data-testid=reproduce-error]', { timeout: 600000 });
    report.cpu.reproduce_sample_s = (Date.now() - t0) / 1000;
    const verdictText = (await page6.textContent('[data-testid=reproduce-table]')) || (await page6.textContent('[data-testid=reproduce-error]'));
    const ok = await page6.getAttribute('[data-testid=reproduce-verdict]', 'data-ok').catch(e => `missing (${e.message.split('\n')[0]})`);
    check(ok === 'true', `reproduce ${rp.task} sample with ${rp.model} (shipped index) passes its verdict in ${report.cpu.reproduce_sample_s} s: ${verdictText.slice(0, 120)}`);
    if (ok === 'true') {
      const shown = JSON.parse(await page6.getAttribute('[data-testid=reproduce-table]', 'data-figures'));
      const native = rp.native.figures;
      const diffs = Object.keys(native.values).map(k => Math.abs(shown.values[k] - native.values[k]) / (k === 'bias' ? native.values[k] : 1));
      report.cpu.reproduce_max_diff_vs_native = Math.max(...diffs);
      check(shown.questions === native.questions && Object.keys(shown.values).length === 6 && Math.max(...diffs) <= 1e-3,
        `reproduce: the page's figures equal the native run of the same path (max difference ${Math.max(...diffs)})`);
      const source = (await page6.textContent('[data-testid=reproduce-source]')) || '';
      check(source.includes(rp.native.reference.source), `the reference's source is named: ${source.slice(0, 120)}`);
    }
    check(page6.url().includes('view=reproduce') && page6.url().includes(`task=${rp.task}`), 'the Reproduce view and its task are in the URL');
    await page6.screenshot({ path: `${out}/reproduce.png`, fullPage: true });
    // A long run: the whole MKQA-R task with its pool encoded here.
    await page6.selectOption('[data-testid=reproduce-task]', 'mkqa');
    const stays = await page6.getAttribute('[data-testid=reproduce-verdict]', 'data-ok', { timeout: 5000 }).catch(e => e.message.split('\n')[0]);
    check(stays === 'true', `the finished run keeps its verdict when the pickers move on (${stays})`);
    await page6.selectOption('[data-testid=reproduce-size]', 'whole');
    await page6.selectOption('[data-testid=reproduce-mode]', 'scratch');
    check(page6.url().includes('size=whole') && page6.url().includes('mode=scratch'), 'size and pool mode are in the URL');
    await page6.click('[data-testid=reproduce-run]');
    await page6.waitForFunction(() => /left for the/.test(document.querySelector('[data-testid=reproduce-progress]')?.textContent || ''), null, { timeout: 300000 });
    const progressText = await page6.textContent('[data-testid=reproduce-progress]');
    check(/encoding the queries: \d+ \/ \d+ texts/.test(progressText), `a long run shows progress and the time left: "${progressText}"`);
    const tr = Date.now();
    await page6.selectOption('[data-testid=model]', rp.model);
    const respondMs = Date.now() - tr;
    check(respondMs < 1000, `the tab stays responsive during the run (a picker answered in ${respondMs} ms)`);
    await page6.click('[data-testid=reproduce-cancel]');
    const cancelled = await page6.waitForSelector('[data-testid=reproduce-cancelled]', { timeout: 60000 }).then(() => true, e => e.message.split('\n')[0]);
    check(cancelled === true, `Cancel stops the run (${cancelled})`);
    check(!!(await page6.$('[data-testid=reproduce-run]')), 'after Cancel a run can start again');
    await page6.close();
  }
  // A visit without parameters opens on an example that shows retrieval working: an English
  // XQuAD-R question, the default model next to the base, correct answers marked; in the URL.
  {
    const fv = expected.first_visit;
    const page4 = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    await page4.goto(`${base}/`);
    const shown = await results(page4, bundle.default_model, fv.query);
    check(JSON.stringify(shown.ids) === JSON.stringify(fv.top5[bundle.default_model]), `first visit: "${fv.query.slice(0, 40)}" answered with the native top-5 ${shown.ids}`);
    if (bundle.default_model !== 'base') {
      const baseCol = await results(page4, 'base', fv.query);
      check(JSON.stringify(baseCol.ids) === JSON.stringify(fv.top5.base), 'first visit: the base model is shown beside it, with its native top-5');
    }
    const marked = await page4.$$eval(`section.column[data-model="${bundle.default_model}"] li.correct`, els => els.length);
    check(marked >= 3, `first visit: correct answers are marked in the top 10 (${marked})`);
    check(((await page4.textContent('[data-testid=pool-note]')) || '').includes('sentences'), 'first visit: the pool is said to hold sentences');
    check(page4.url().includes('pool=xquad-r') && page4.url().includes('q='), 'first visit: the example is in the URL');
    await page4.screenshot({ path: `${out}/first-visit.png`, fullPage: true });
    await page4.close();
  }
  // Bring your own checkpoint: the two files of a committed checkpoint folder (not in the test
  // bundle) picked in the file input; the page checks it against the base, encodes the pool with
  // it in the browser and answers with the native top-5 (`search --pool --model DIR`). Broken
  // ones are refused with a message, and the page keeps working.
  {
    const ck = expected.checkpoint;
    const page5 = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    await page5.goto(`${base}/?backend=cpu&model=${m1}`);
    await ready(page5);
    const bad = `${out}/bad-checkpoint`;
    fs.mkdirSync(bad, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(`${ck.dir}/manifest.json`, 'utf8'));
    const layers = fs.readFileSync(`${ck.dir}/layers.safetensors`);
    // Each case says something else, so waiting for a new message never reads the last one.
    let lastMsg = '';
    const refused = async (files, what, expect) => {
      await page5.setInputFiles('[data-testid=checkpoint-files]', files);
      await page5.waitForFunction(prev => { const e = document.querySelector('[data-testid=error]'); return e && e.textContent !== prev; }, lastMsg, { timeout: 120000 });
      const msg = lastMsg = await page5.textContent('[data-testid=error]');
      check(expect.test(msg), `${what} is refused: ${msg.slice(0, 150)}`);
    };
    fs.writeFileSync(`${bad}/layers.safetensors`, layers.subarray(0, layers.length >> 1));
    fs.writeFileSync(`${bad}/manifest.json`, JSON.stringify(manifest));
    await refused([`${bad}/manifest.json`, `${bad}/layers.safetensors`], 'a truncated layers file', /sha256 .* does not match/);
    fs.writeFileSync(`${bad}/layers.safetensors`, layers);
    fs.writeFileSync(`${bad}/manifest.json`, JSON.stringify({ ...manifest, base_sha256: '0'.repeat(64) }));
    await refused([`${bad}/manifest.json`, `${bad}/layers.safetensors`], 'a checkpoint of another base model', /trained on base model 0000/);
    fs.writeFileSync(`${bad}/manifest.json`, '<html>not a checkpoint</html>');
    await refused([`${bad}/manifest.json`, `${bad}/layers.safetensors`], 'a file that is not a checkpoint manifest', /manifest/);
    await refused([`${ck.dir}/manifest.json`], 'a folder without its layers file', /layers\.safetensors/);
    const t0 = Date.now();
    await page5.setInputFiles('[data-testid=checkpoint-files]', [`${ck.dir}/manifest.json`, `${ck.dir}/layers.safetensors`]);
    const name = `yours-${manifest.weights_sha256.slice(0, 8)}`;
    await page5.waitForFunction(n => document.querySelector('[data-testid=model]').value === n, name, { timeout: 600000 });
    report.cpu.checkpoint_add_s = (Date.now() - t0) / 1000;
    check(!(await page5.$('[data-testid=error]')), `the checkpoint is added and chosen in ${report.cpu.checkpoint_add_s} s (${name})`);
    const r = await search(page5, name, ck.query);
    check(JSON.stringify(r.ids) === JSON.stringify(ck.top5), `your checkpoint answers with the native top-5: ${r.ids} = ${ck.top5}`);
    await page5.screenshot({ path: `${out}/your-checkpoint.png`, fullPage: true });
    // Added again after a reload: its pool index comes from the Cache API, not encoded again.
    await page5.reload();
    await ready(page5);
    const t1 = Date.now();
    await page5.setInputFiles('[data-testid=checkpoint-files]', [`${ck.dir}/manifest.json`, `${ck.dir}/layers.safetensors`]);
    await page5.waitForFunction(n => document.querySelector('[data-testid=model]').value === n, name, { timeout: 600000 });
    report.cpu.checkpoint_readd_s = (Date.now() - t1) / 1000;
    check(report.cpu.checkpoint_readd_s < report.cpu.checkpoint_add_s / 4, `added again, its pool index comes from the cache: ${report.cpu.checkpoint_readd_s} s vs ${report.cpu.checkpoint_add_s} s`);
    const again = await search(page5, name, ck.query);
    check(JSON.stringify(again.ids) === JSON.stringify(ck.top5), 'and answers with the same native top-5');
    // Dropped on the form instead of picked: the same checkpoint, the same answers.
    await page5.reload();
    await ready(page5);
    const transfer = await page5.evaluateHandle(([m, l]) => {
      const bytes = b64 => Uint8Array.from(atob(b64), c => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bytes(m)], 'manifest.json'));
      d.items.add(new File([bytes(l)], 'layers.safetensors'));
      return d;
    }, [fs.readFileSync(`${ck.dir}/manifest.json`).toString('base64'), layers.toString('base64')]);
    await page5.dispatchEvent('[data-testid=drop-zone]', 'drop', { dataTransfer: transfer });
    await page5.waitForFunction(n => document.querySelector('[data-testid=model]').value === n, name, { timeout: 600000 });
    const dropped = await search(page5, name, ck.query);
    check(JSON.stringify(dropped.ids) === JSON.stringify(ck.top5), `dropped on the form, the checkpoint answers with the same native top-5 (${dropped.ids})`);
    // Reproduce with it: the MKQA-R sample against its own (cached) index; no published figures.
    await page5.click('[data-testid=tab-reproduce]');
    await page5.selectOption('[data-testid=reproduce-task]', 'mkqa');
    await page5.waitForSelector('[data-testid=reproduce-run]:not([disabled])', { timeout: 60000 });
    await page5.click('[data-testid=reproduce-run]');
    await page5.waitForSelector('[data-testid=reproduce-verdict], [data-testid=reproduce-error]', { timeout: 600000 });
    const own = JSON.parse((await page5.getAttribute('[data-testid=reproduce-table]', 'data-figures').catch(e => `{"error": "${e.message.split('\n')[0]}"}`)) || '{}');
    const ownOk = (await page5.getAttribute('[data-testid=reproduce-verdict]', 'data-ok').catch(e => e.message.split('\n')[0]));
    check(ownOk === 'none' && own.values && Object.keys(own.values).length === 6 && own.values.multi_map > 0 && own.values.multi_map <= 1,
      `your checkpoint reproduces the MKQA-R sample without a reference: ${JSON.stringify(own.values || own)}`);
    await page5.screenshot({ path: `${out}/reproduce-yours.png`, fullPage: true });
    // Its point on the robustness plots: the run's figures minus the base's reference on the
    // same questions, drawn at its alpha as a diamond with the numbers in its tooltip.
    await page5.click('[data-testid=tab-charts]');
    await page5.waitForSelector('[data-testid=task]', { timeout: 60000 });
    await page5.selectOption('[data-testid=task]', 'mkqa');
    const userMarks = await page5.$$eval('svg.chart polygon.user', els => els.map(e => [parseFloat(e.getAttribute('data-change')), e.querySelector('title').textContent]));
    const baseRef = bundle.reproduce.find(e => e.task === 'mkqa').references.find(r => r.model === 'base' && r.size === 'sample').figures.values;
    const mulMark = userMarks.find(m => m[1].includes('Mul. mAP'));
    const wantMul = 100 * ((own.values?.multi_map ?? NaN) - baseRef.multi_map);
    check(userMarks.length === 4 && mulMark && Math.abs(mulMark[0] - wantMul) < 1e-9 && mulMark[1].includes(`alpha ${manifest.alpha}`),
      `your checkpoint is a point on the plots: ${userMarks.length} marks, Mul. mAP ${mulMark?.[0]} vs base = ${wantMul}`);
    await page5.screenshot({ path: `${out}/charts-yours.png`, fullPage: true });
    await page5.close();
  }
  // Safety: markup in a query is shown as text, never parsed.
  await page2.click('[data-testid=tab-search]');
  const markup = '<img src=x onerror="window.pwned=1"><b>bold</b>';
  await page2.fill('[data-testid=query]', markup);
  await page2.click('[data-testid=search]');
  await results(page2, m2, markup);
  check(!(await page2.evaluate(() => window.pwned)), 'user text is not interpreted as HTML');
  check(await page2.$$eval('b, img[src=x]', els => els.every(e => e.textContent !== 'bold' && e.getAttribute('src') !== 'x')), 'typed markup creates no elements');
  check((await page2.inputValue('[data-testid=query]')) === markup, 'the typed markup is shown as text');
  await browser.close();
}

// --- The baseline-SIMD worker (browsers without relaxed SIMD), forced by ?simd=baseline ---
{
  const { browser, page, backend } = await run(['--disable-gpu'], `?backend=cpu&simd=baseline&model=${m1}`, 'baseline');
  const status = await page.textContent('.status');
  check(backend === 'CPU' && status.includes('baseline-SIMD build'), `?simd=baseline starts the baseline-SIMD worker: "${status.slice(0, 160)}"`);
  for (const q of expected.queries) {
    const r = await search(page, m1, q);
    check(JSON.stringify(r.ids) === JSON.stringify(expected.top5[m1][q.text]),
      `baseline SIMD, ${q.lang} "${q.text}": browser top-5 ${r.ids} = native ${expected.top5[m1][q.text]}`);
  }
  await browser.close();
}

// --- No Cache API: the page served over plain http to a non-loopback address (scripts/e2e) ---
// An insecure origin has no Cache API and no service worker; the page must still answer, with
// the native top-5, downloading instead of caching.
if (process.env.E2E_INSECURE_BASE) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...COMMON, '--disable-gpu'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  page.on('pageerror', e => failures.push(`no Cache API: page error ${e.message}`));
  await page.goto(`${process.env.E2E_INSECURE_BASE}/?backend=cpu`);
  const env = await page.evaluate(() => ({ secure: window.isSecureContext, caches: typeof caches, sw: 'serviceWorker' in navigator }));
  check(!env.secure && env.caches === 'undefined' && !env.sw, `the insecure origin has no Cache API and no service worker (${JSON.stringify(env)})`);
  await ready(page);
  const q = expected.queries[0];
  const r = await search(page, m1, q);
  check(JSON.stringify(r.ids) === JSON.stringify(expected.top5[m1][q.text]), `without the Cache API the page answers: top-5 = native (${r.ids})`);
  await page.screenshot({ path: `${out}/no-cache-api.png` });
  await browser.close();
} else {
  console.log('no-Cache-API case not run (E2E_NO_INSECURE=1)');
}

// --- A full Cache API: the origin's storage quota cut to 200 KB (Chromium's DevTools protocol) ---
// Storing the model files fails; the page must answer all the same (the files are used as
// downloaded).
{
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...COMMON, '--disable-gpu'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  page.on('pageerror', e => failures.push(`full Cache API: page error ${e.message}`));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(base).origin, quotaSize: 200000 });
  await page.goto(`${base}/?backend=cpu`);
  await ready(page);
  const q = expected.queries[1];
  const r = await search(page, m1, q);
  // What fits in 200 KB may be kept (a cut test pool's texts are 73 KB); the model's files may not.
  const stored = await page.evaluate(async () => {
    const c = await caches.open('hybrid-ir-v1');
    return (await c.keys()).map(k => new URL(k.url).pathname);
  });
  const { usage } = await page.evaluate(() => navigator.storage.estimate());
  const bigFiles = stored.filter(p => /\.(e5s1|i8|q4|safetensors|gz)$/.test(p));
  // With nothing kept, the usage is Chromium's own (the offline copy's registration and the
  // cache's bookkeeping: 210,713 B once, above the 200 KB quota), not the page's to hold.
  check(bigFiles.length === 0 && (stored.length === 0 || usage <= 200000), `the quota held: ${usage} B used, no model file stored (kept: ${stored.join(', ') || 'nothing'})`);
  check(JSON.stringify(r.ids) === JSON.stringify(expected.top5[m1][q.text]), `with the Cache API full the page answers: top-5 = native (${r.ids})`);
  await browser.close();
}

// --- A corrupt model file: an actionable error on the page, not a blank page ---
{
  const manifest = await (await fetch(`${base}/assets/manifest.json`)).json();
  const path = `/assets/${manifest.model.path}`;
  await fetch(`${base}/__corrupt?path=${encodeURIComponent(path)}`);
  try {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...COMMON, '--disable-gpu'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 700 } });
    await page.goto(`${base}/?backend=cpu`);
    await page.waitForSelector('[data-testid=error]', { timeout: 300000 });
    const text = await page.textContent('[data-testid=error]');
    check(text.includes(manifest.model.path) && text.includes('sha256') && text.includes('web-assets'),
      `corrupt model file: the page says "${text.slice(0, 140)}..."`);
    await page.screenshot({ path: `${out}/corrupt-model.png` });
    await browser.close();
  } finally {
    await fetch(`${base}/__corrupt?path=${encodeURIComponent(path)}&off=1`);
  }
}

// --- WebGPU path (where Chromium offers an adapter) ---
// First ask Chromium itself whether it offers an adapter: where it does, any failure of the
// page's WebGPU path fails the run.
let adapter = false;
try {
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...COMMON, ...WEBGPU] });
  const p = await b.newPage();
  await p.goto(`${base}/assets/manifest.json`);
  adapter = await p.evaluate(async () => !!(navigator.gpu && await navigator.gpu.requestAdapter()));
  await b.close();
} catch (e) {
  check(false, `the WebGPU probe itself failed (so whether an adapter exists is unknown): ${e.message}`);
}
report.webgpu.adapter = adapter;
console.log(`Chromium offers a WebGPU adapter: ${adapter}`);
try {
  const { browser, page, backend, loadS } = await run(WEBGPU, `?backend=webgpu&model=${m1}`, 'webgpu');
  report.webgpu.backend = backend;
  report.webgpu.load_s = loadS;
  report.webgpu.status = await page.textContent('.status');
  if (backend === 'WebGPU') {
    const q = expected.queries[0];
    const r = await search(page, m1, q, 600000);
    check(JSON.stringify(r.ids) === JSON.stringify(expected.top5[m1][q.text]), `WebGPU ${q.lang}: top-5 = native`);
    const r2 = await search(page, m1, expected.queries[1], 600000);
    check(JSON.stringify(r2.ids) === JSON.stringify(expected.top5[m1][expected.queries[1].text]), `WebGPU ${expected.queries[1].lang}: top-5 = native`);
    report.webgpu.query_ms = [r.ms, r2.ms];
    await page.screenshot({ path: `${out}/webgpu.png`, fullPage: true });
  } else {
    check(!adapter, `Chromium offers an adapter, so the page must run on WebGPU (it chose ${backend}: ${report.webgpu.status})`);
    // The fallback is said in words; the adapter's own error waits, folded, under "details".
    const shown = await page.innerText('.status');
    check(/runs on the CPU/.test(shown) && !/WgpuDevice|not requested/.test(shown), `the CPU fallback is said in plain words, details folded: "${shown.slice(0, 200)}"`);
    console.log('no WebGPU adapter in this Chromium: CPU fallback shown, WebGPU checks skipped');
  }
  await browser.close();
} catch (e) {
  // With an adapter the page must run on it; without one it must fall back to the CPU. Either
  // way, an error here is a failure.
  report.webgpu.error = e.message;
  check(false, `the page failed with WebGPU flags (adapter offered: ${adapter}): ${e.message}`);
}

// Without ?backend= the page times one query on each device at warm-up and keeps the faster,
// saying both times; with an adapter both must have run and the faster one must be in use.
if (adapter) {
  try {
    const { browser, page, backend } = await run(WEBGPU, `?model=${m1}`, 'auto');
    const status = await page.textContent('.status');
    report.webgpu.auto = { backend, status };
    const m = status.match(/picked at warm-up: (\d+) ms per query on (the CPU|WebGPU), (\d+) ms on (the CPU|WebGPU)/);
    check(!!m, `auto backend: the status says both warm-up times (${status.slice(0, 200)})`);
    if (m) {
      const chosen = m[2] === 'WebGPU' ? 'WebGPU' : 'CPU';
      check(chosen === backend && Number(m[1]) <= Number(m[3]), `auto backend: ${backend} in use, the faster at warm-up (${m[1]} vs ${m[3]} ms)`);
      const q = expected.queries[0];
      const r = await search(page, m1, q, 600000);
      check(JSON.stringify(r.ids) === JSON.stringify(expected.top5[m1][q.text]), `auto backend (${backend}) ${q.lang}: top-5 = native`);
    }
    await browser.close();
  } catch (e) {
    check(false, `the page failed to pick a backend with an adapter offered: ${e.message}`);
  }
}

fs.writeFileSync(`${out}/report.json`, JSON.stringify(report, null, 2));
console.log(JSON.stringify(report, null, 2));
if (failures.length) { console.log(`${failures.length} failure(s)`); process.exit(1); }
console.log('e2e passed');
