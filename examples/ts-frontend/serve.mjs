// A development server for the page: serves dist/ and reverse-proxies the API
// paths (/fsa.v1.*) to fsad, so that page and API share one origin (fsad sends
// no CORS headers). Usage: node serve.mjs [fsad URL, default http://127.0.0.1:8080]
// (PORT picks the port, default 8000).
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const fsad = new URL(process.argv[2] ?? "http://127.0.0.1:8080");
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "dist");
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".map": "application/json" };

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, "http://page");
    if (url.pathname.startsWith("/fsa.v1.")) {
      const headers = { ...req.headers, host: fsad.host };
      const up = http.request(new URL(req.url, fsad), { method: req.method, headers }, (r) => {
        res.writeHead(r.statusCode, r.headers); // streams (WatchProjects) pass through as they come
        r.pipe(res);
      });
      up.on("error", (err) => res.writeHead(502).end(`fsad: ${err.message}`));
      req.pipe(up);
      return;
    }
    const file = path.join(root, path.normalize(url.pathname === "/" ? "/index.html" : url.pathname));
    const st = await stat(file).catch(() => undefined);
    if (!file.startsWith(root) || !st?.isFile()) return void res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  })
  .listen(Number(process.env.PORT ?? 8000), "127.0.0.1", function () {
    console.log(`page at http://127.0.0.1:${this.address().port}/ (API proxied to ${fsad.origin})`);
  });
