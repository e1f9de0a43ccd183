// Builds the console into daemon/ui/dist, which fsad embeds: index.html,
// assets/app.js and assets/app.css. The output depends only on the sources and
// the pinned esbuild: no timestamps, no absolute paths, content-hash query
// strings computed from the bytes themselves, so a rebuild of an unchanged
// tree changes nothing (web-check-build relies on that).
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

import { pinnedDeps } from "./esbuild-pin.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, process.env.FSA_WEB_OUT ?? "../../daemon/ui/dist");
const base = "/ui";

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  write: false,
  outdir: "out",
  alias: pinnedDeps,
  // tsconfig.json's paths serve tsc only; for the bundle, packages resolve
  // through their exports (ESM builds), never through a directory's main.
  tsconfigRaw: {},
  logLevel: "warning",
});
const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
if (!js || result.outputFiles.length !== 1) throw new Error("esbuild: expected exactly one output file");

const css = await readFile(path.join(here, "src/style.css"));
const assets = { "app.js": js.contents, "app.css": css };

const version = (b) => createHash("sha256").update(b).digest("hex").slice(0, 16);
let html = await readFile(path.join(here, "src/index.html"), "utf8");
for (const [name, bytes] of Object.entries(assets)) {
  html = html.replaceAll(`{{${name}}}`, `${base}/assets/${name}?v=${version(bytes)}`);
}
if (html.includes("{{")) throw new Error("index.html: unreplaced placeholder");

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "assets"), { recursive: true });
await writeFile(path.join(out, "index.html"), html);
for (const [name, bytes] of Object.entries(assets)) {
  await writeFile(path.join(out, "assets", name), bytes);
}
console.log(`built ${path.relative(process.cwd(), out)}: app.js ${assets["app.js"].length} B, app.css ${css.length} B`);
