// The browser side of scripts/bench-browser: one engine per call of `window.bench(config)`, in a
// dedicated Web Worker, timed from the page the same way for every engine. Engines:
//   {engine: 'ours', build}          our inference worker (../ours-<build>/hybrid-ir-worker_loader.js),
//                                    Burn Flex on one wasm thread, texts in (it tokenises itself)
//   {engine: 'ort', model, threads}  onnxruntime-web's wasm backend (./ort-worker.mjs) on an ONNX
//                                    graph of the same model, token ids in (tokenised beforehand),
//                                    a call of many texts split as our worker splits it
// Input (./queries.json): texts, their token ids, how many leading ones warm up unmeasured; and
// passages (XQuAD-R sentences, the page's long texts) with their ids, for passage batches.
// Output: cold-start parts, per-query wall latency (first and warm pass), batch-32 throughput of
// queries and of passages, the measured vectors (checked against native ones, natively).

const now = () => performance.now();

/** A worker and a request/answer helper; `id` pairs answers with requests. An error answer
 * rejects its request, or every waiting one (and all later ones) when it names none. */
function channel(worker, decode) {
  const waiting = new Map();
  let failure = null;
  const failAll = err => { failure = err; for (const w of waiting.values()) w.reject(err); waiting.clear(); };
  worker.onmessage = ({ data }) => {
    const m = decode(data);
    const w = waiting.get(m.id);
    if (w) waiting.delete(m.id);
    if (m.error) (w ? w.reject(new Error(m.error)) : failAll(new Error(m.error)));
    else if (w) w.resolve(m);
  };
  worker.onerror = e => failAll(new Error(`worker error: ${e.message}`));
  return (id, message) => new Promise((resolve, reject) => {
    if (failure) return reject(failure);
    waiting.set(id, { resolve, reject });
    if (message !== undefined) worker.postMessage(message);
  });
}

/** Our worker: Listening, then Load (CPU), then Embed requests of texts. */
async function startOurs(cfg, q) {
  const t0 = now();
  const worker = new Worker(`../ours-${cfg.build}/hybrid-ir-worker_loader.js`);
  const ask = channel(worker, data => {
    if (data === 'Listening') return { id: 'listening' };
    const [kind, body] = Object.entries(data)[0];
    if (kind === 'Error' || kind === 'Crashed') return { id: body.id ?? 'any', error: `${kind}: ${body.message}` };
    if (kind === 'Ready') return { id: 'ready', ...body };
    if (kind === 'Embedded') return { id: body.id, ...body };
    return { id: 'progress' };
  });
  await ask('listening');
  const listening = now();
  const ready = await ask('ready', { Load: { assets: '../assets', models: [cfg.model], pool: cfg.pool, backend: 'Cpu' } });
  const loaded = now();
  let next = 1;
  const embed = async (rows, passages = false) => {
    const id = next++;
    const t = now();
    const texts = rows.map(i => (passages ? q.passages.texts : q.texts)[i]);
    const r = await ask(id, { Embed: { id, model: cfg.model, texts, role: passages ? 'passage' : 'query' } });
    return { ms: now() - t, vectors: Float32Array.from(r.vectors), engine_ms: r.encode_ms, prepare_ms: r.prepare_ms, worker_ms: r.worker_ms, tokens: r.tokens };
  };
  return {
    worker, embed,
    cold: { compile_ms: listening - t0, load_ms: loaded - listening, download_ms: ready.timings.download_ms, build_ms: ready.timings.build_ms, backend: ready.backend },
  };
}

/** onnxruntime-web: load (fetch the graph, create the session), then runs on token ids. */
async function startOrt(cfg, q) {
  const worker = new Worker('./ort-worker.mjs', { type: 'module' });
  const ask = channel(worker, data => (data.type === 'error' ? { id: data.id ?? 'any', error: data.message } : data));
  const ready = await ask('ready', { type: 'load', id: 'ready', model: `../onnx/${cfg.model}`, threads: cfg.threads });
  let next = 1;
  const run = async ids => {
    const id = next++;
    return ask(id, { type: 'embed', id, ids });
  };
  // A call of many texts runs as our worker runs it: sorted by length into batches of
  // q.sub_batch (less padding), vectors back in the caller's order.
  const embed = async (rows, passages = false) => {
    const source = passages ? q.passages.ids : q.ids;
    const t = now();
    const order = [...rows.keys()].sort((a, b) => source[rows[a]].length - source[rows[b]].length);
    let vectors = null, engine_ms = 0;
    for (let s = 0; s < order.length; s += q.sub_batch) {
      const part = order.slice(s, s + q.sub_batch);
      const r = await run(part.map(k => source[rows[k]]));
      const dim = r.vectors.length / part.length;
      vectors ??= new Float32Array(rows.length * dim);
      part.forEach((k, j) => vectors.set(r.vectors.subarray(j * dim, (j + 1) * dim), k * dim));
      engine_ms += r.run_ms;
    }
    return { ms: now() - t, vectors, engine_ms };
  };
  return { worker, embed, cold: { download_ms: ready.download_ms, init_ms: ready.init_ms } };
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

window.bench = async cfg => {
  const q = await (await fetch('./queries.json')).json();
  if (cfg.engine === 'none') return { engine: 'none', memory_bytes: (await performance.measureUserAgentSpecificMemory()).bytes };
  const t0 = now();
  const e = await (cfg.engine === 'ours' ? startOurs : startOrt)(cfg, q);
  const one = await e.embed([0]);
  const cold = { ...e.cold, first_query_ms: one.ms, total_ms: now() - t0 };
  // What the server sent up to the first vector (tests/e2e/serve.py counts it; the driver reset it).
  const sent = await (await fetch('/__bytes')).json();
  cold.bytes = sent.bytes;
  // Our worker also fetched the search index (pool texts and vectors), which no ORT run does.
  cold.index_bytes = Object.entries(sent.files).filter(([p]) => p.includes('/pools/') || p.endsWith('.i8')).reduce((a, [, b]) => a + b, 0);
  // Warm-up (unmeasured): the first texts, so the engines' code is compiled to its top tier.
  for (let i = 1; i < q.warmup; i++) await e.embed([i]);
  const measured = [...Array(q.texts.length - q.warmup).keys()].map(i => i + q.warmup);
  // Two passes over the measured texts, one text per call: the first as a visitor meets them
  // (our worker fetches the word-table rows a text needs on first use; ORT holds its whole
  // table from the start), the second with everything in place (the engines' steady state).
  const pass = async keep => {
    const wall = [], engine = [], prepare = [], worker = [];
    for (const i of measured) {
      const r = await e.embed([i]);
      wall.push(r.ms);
      engine.push(r.engine_ms);
      prepare.push(r.prepare_ms ?? 0);
      worker.push(r.worker_ms ?? null);
      if (keep) keep.push(Array.from(r.vectors));
    }
    return { wall, engine, prepare, worker };
  };
  const first = await pass(null);
  const vectors = [];
  const warm = await pass(vectors);
  const latencies = warm.wall, engine = warm.engine, prepare = warm.prepare, worker = warm.worker;
  // Throughput: batches of `batch` measured texts, in order, after one unmeasured batch; then
  // the same for passages (all of them measured; their vectors kept for the native check).
  const batches = [];
  for (let b = 0; b + q.batch <= measured.length && batches.length < q.batches; b += q.batch) batches.push(measured.slice(b, b + q.batch));
  const throughput = async (bs, passages, keep) => {
    if (!bs.length) return null;
    await e.embed(bs[0], passages);
    const tb = now();
    for (const rows of bs) {
      const r = await e.embed(rows, passages);
      const dim = r.vectors.length / rows.length;
      if (keep) for (let i = 0; i < rows.length; i++) keep.push(Array.from(r.vectors.subarray(i * dim, (i + 1) * dim)));
    }
    return bs.reduce((n, b) => n + b.length, 0) / ((now() - tb) / 1e3);
  };
  const batch_texts_per_s = await throughput(batches, false, null);
  const pb = q.passages.batch;
  const passageBatches = [...Array(Math.floor(q.passages.texts.length / pb)).keys()].map(b => [...Array(pb).keys()].map(i => b * pb + i));
  const passage_vectors = [];
  const passage_texts_per_s = await throughput(passageBatches, true, passage_vectors);
  // Chromium's own measurement of the page's memory (cross-origin isolated pages only; resolves
  // with a garbage collection). Kept in the JSON beside the renderer's peak: it counted ORT's
  // wasm memory but not our worker's (2 MiB in a smoke run), so the table does not use it.
  const memory = self.crossOriginIsolated && performance.measureUserAgentSpecificMemory
    ? (await performance.measureUserAgentSpecificMemory()).bytes : null;
  e.worker.terminate();
  return {
    ...cfg, cold, queries: measured.length,
    p50_ms: pct(latencies, 0.5), p90_ms: pct(latencies, 0.9), mean_ms: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    first_pass_p50_ms: pct(first.wall, 0.5), first_pass_p90_ms: pct(first.wall, 0.9),
    // Inside the engine: its own timing of the forward pass (ours: tokenising included) and,
    // ours only, what came before it in the worker (word-table rows) and the worker's whole time
    // from the request's arrival to the reply (the rest of the wall time is message passing).
    engine_p50_ms: pct(engine, 0.5), prepare_p50_ms: pct(prepare, 0.5), worker_p50_ms: worker.includes(null) ? null : pct(worker, 0.5),
    batch: q.batch, batch_texts: batches.length * q.batch, batch_texts_per_s,
    passage_batch: pb, passage_texts: passage_vectors.length, passage_texts_per_s, passage_vectors,
    cross_origin_isolated: self.crossOriginIsolated, memory_bytes: memory, vectors,
  };
};
window.harnessReady = true;
