// A small static file server for the built page, bound to 127.0.0.1 only.
//
// Headers: a Content-Security-Policy that allows nothing from outside this
// server (so a stray CDN reference fails instead of silently working
// online only), and cross-origin isolation (COOP + COEP), which gives the
// page SharedArrayBuffer and so the multi-threaded WebAssembly backend.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** The policy also set in index.html; the header covers every file. */
export const CSP = [
  "default-src 'self'", "script-src 'self' blob: 'wasm-unsafe-eval'",
  "worker-src 'self' blob:", "img-src 'self' blob: data:",
  "connect-src 'self' blob: data:", "style-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Serves `root` on http://127.0.0.1:`port`/ (port 0: any free port).
 * Resolves to `{ url, close }` once listening.
 */
export function serve(root, { port = 8080 } = {}) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type,
        'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'only GET and HEAD\n');
      return;
    }
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      send(400, 'bad path\n');
      return;
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(base, `.${rel}`);
    // Nothing outside the built folder, whatever the path says.
    if (file !== base && !file.startsWith(base + path.sep)) {
      send(403, 'forbidden\n');
      return;
    }
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        send(404, `not found: ${rel}\n`);
        return;
      }
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file).toLowerCase()] ??
          'application/octet-stream',
        'Content-Length': st.size,
        'Cache-Control': 'no-cache',
        'Content-Security-Policy': CSP,
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(
      `cannot listen on 127.0.0.1:${port}: ${e.message}`)));
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address();
      resolve({
        url: `http://127.0.0.1:${actual}/`,
        close: () => new Promise((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      });
    });
  });
}
