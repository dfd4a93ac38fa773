// The page's offline copy. The model files are kept in the Cache API by the page itself
// (src/web/fetch.rs, keyed by sha256); this service worker keeps the rest a reload needs: the
// HTML, the JS and wasm of the page and its worker, the style sheet and the bundle's manifest.
// Network first (a new build is always picked up), the stored copy only when the network fails.
const SHELL = 'hybrid-ir-shell-v2';

// The page's small files, which a first visit fetches before this worker exists, stored at once
// (names are stable: Trunk.toml sets filehash = false; from the browser's HTTP cache where it
// holds them; both workers' small loaders, of which the page starts one). The worker's large wasm is not in this list: it is fetched after this worker
// controls the page, and stored as it passes (below), so a first visit downloads it once.
const FILES = ['./', 'style.css', 'hybrid-ir-web.js', 'hybrid-ir-web_bg.wasm', 'hybrid-ir-worker_loader.js',
  'hybrid-ir-worker.js', 'hybrid-ir-worker-relaxed_loader.js', 'hybrid-ir-worker-relaxed.js', 'assets/manifest.json'];

self.addEventListener('install', event => {
  self.skipWaiting();
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    await Promise.all(FILES.map(async f => {
      const url = new URL(f, self.location);
      const response = await fetch(url, { cache: 'force-cache' }).catch(() => null);
      // A full or refused cache leaves the page working online; say so, do not fail the install.
      if (response && response.ok) await cache.put(url.origin + url.pathname, response).catch(e => console.warn(`offline copy: ${f} not stored: ${e.message}`));
    }));
  })());
});
self.addEventListener('activate', event => event.waitUntil((async () => {
  // Copies kept by an older version of this file go.
  for (const name of await caches.keys()) {
    if (name.startsWith('hybrid-ir-shell-') && name !== SHELL) await caches.delete(name);
  }
  await self.clients.claim();
})()));

// The page's own files: under this worker's folder (the page's base path), not the bundle's
// large files, which the page caches by hash.
function isShell(url) {
  const base = new URL('./', self.location).pathname;
  if (url.origin !== self.location.origin || !url.pathname.startsWith(base)) return false;
  const rest = url.pathname.slice(base.length);
  return rest === '' || rest === 'index.html' || rest === 'assets/manifest.json' || /^[^/]+\.(js|wasm|css)$/.test(rest);
}

self.addEventListener('fetch', event => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || !isShell(url)) return;
  // One entry per file, whatever the query string (the page keeps its state there).
  const key = url.origin + url.pathname;
  event.respondWith((async () => {
    try {
      const response = await fetch(event.request);
      // Stored beside the answer, not before it: the page gets the body as it arrives (wasm
      // compiles while it downloads). Only whole, successful answers are kept.
      if (response.ok) {
        const copy = response.clone();
        event.waitUntil(caches.open(SHELL).then(c => c.put(key, copy)).catch(e => console.warn(`offline copy: ${key} not stored: ${e.message}`)));
      }
      return response;
    } catch (err) {
      const stored = await caches.open(SHELL).then(c => c.match(key)).catch(() => undefined);
      if (stored) return stored;
      throw err;
    }
  })());
});
