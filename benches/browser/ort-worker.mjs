// onnxruntime-web in a module worker for benches/browser/harness.js. Messages:
//   {type: 'load', id, model: URL, threads}  -> {type: 'ready', id, download_ms, init_ms, bytes}
//   {type: 'embed', id, ids: [[token id]]}    -> {type: 'embedded', id, vectors, run_ms}
// Rows are padded with the pad id (1) and masked, as a batch of texts is in our encoder.
import * as ort from '../ort/ort.wasm.min.mjs';

let session = null;

async function load({ id, model, threads }) {
  ort.env.wasm.wasmPaths = new URL('../ort/', import.meta.url).href;
  ort.env.wasm.numThreads = threads;
  const t0 = performance.now();
  const response = await fetch(model);
  if (!response.ok) throw new Error(`${model}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const t1 = performance.now();
  session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return { type: 'ready', id, download_ms: t1 - t0, init_ms: performance.now() - t1, bytes: bytes.length };
}

async function embed({ id, ids }) {
  if (!session) throw new Error('embed before load');
  const t0 = performance.now();
  const len = Math.max(...ids.map(r => r.length));
  const input = new BigInt64Array(ids.length * len).fill(1n);
  const mask = new BigInt64Array(ids.length * len);
  ids.forEach((row, i) => row.forEach((t, j) => { input[i * len + j] = BigInt(t); mask[i * len + j] = 1n; }));
  const dims = [ids.length, len];
  const out = await session.run({ input_ids: new ort.Tensor('int64', input, dims), attention_mask: new ort.Tensor('int64', mask, dims) });
  return { type: 'embedded', id, vectors: out.sentence_embedding.data, run_ms: performance.now() - t0 };
}

self.onmessage = async ({ data }) => {
  try {
    postMessage(await (data.type === 'load' ? load(data) : embed(data)));
  } catch (e) {
    postMessage({ type: 'error', id: data.id, message: String((e && e.message) || e) });
  }
};
