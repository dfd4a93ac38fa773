"""Static server for the e2e test that counts what it sends, so the test can measure the bytes a
visit transfers (the page's worker fetches most files, out of reach of page-level hooks).

    python3 tests/e2e/serve.py [--isolated] DIR PORT [PREFIX [HOST]]      (HOST: the address to bind, default 127.0.0.1)
--isolated: every answer carries COOP/COEP headers, so pages are cross-origin isolated (threads
with SharedArrayBuffer, as onnxruntime-web needs for more than one thread; scripts/bench-browser).
With PREFIX (e.g. /hybrid-ir), DIR is served under it, as on a static host's sub-path, and any
request outside it is a 404: a page that asks for /assets/... instead of PREFIX/assets/... fails.
The paths below are relative to PREFIX.
GET /__bytes        -> {"bytes": N, "files": {path: bytes}} since the last reset
GET /__bytes/reset  -> resets the counters
GET /__corrupt?path=P[&off=1] -> serve file P with its bytes inverted (same length), or stop
GET /__missing?path=P[&off=1] -> answer 404 for every path starting with P, or stop
GET /__down[?off=1]            -> drop every other request without an answer (the network is
                                  gone, as the browser sees it), or serve again
"""
import http.server
import json
import sys
import threading
import urllib.parse

ISOLATED = "--isolated" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--isolated"]
ROOT, PORT = ARGS[0], int(ARGS[1])
PREFIX = ARGS[2].rstrip("/") if len(ARGS) > 2 else ""
HOST = ARGS[3] if len(ARGS) > 3 else "127.0.0.1"
LOCK = threading.Lock()
SENT = {}
CORRUPT = set()
MISSING = set()
DOWN = [False]


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def log_message(self, *args):
        pass

    def end_headers(self):
        if ISOLATED:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def do_GET(self):
        if PREFIX:
            if not (self.path == PREFIX or self.path.startswith(PREFIX + "/") or self.path.startswith(PREFIX + "?")):
                self.send_error(404, f"outside {PREFIX}/")
                return
            self.path = self.path[len(PREFIX):] or "/"
            if self.path.startswith("?"):
                self.path = "/" + self.path
        if self.path.startswith("/__down"):
            DOWN[0] = "off" not in self.path
            self.send_response(204)
            self.end_headers()
            return
        if DOWN[0] and not self.path.startswith("/__"):
            self.close_connection = True
            return
        for name, paths in (("/__corrupt", CORRUPT), ("/__missing", MISSING)):
            if self.path.startswith(name):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                path = query.get("path", [""])[0]
                (paths.discard if "off" in query else paths.add)(path)
                self.send_response(204)
                self.end_headers()
                return
        if any(self.path.split("?")[0].startswith(p) for p in MISSING):
            self.send_error(404, "made missing by the test")
            return
        if self.path.startswith("/__bytes"):
            with LOCK:
                if self.path == "/__bytes/reset":
                    SENT.clear()
                body = json.dumps({"bytes": sum(SENT.values()), "files": dict(SENT)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def copyfile(self, source, outputfile):
        n = 0
        path = self.path.split("?")[0]
        while chunk := source.read(1 << 16):
            outputfile.write(bytes(b ^ 0xFF for b in chunk) if path in CORRUPT else chunk)
            n += len(chunk)
        with LOCK:
            SENT[path] = SENT.get(path, 0) + n


http.server.ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
