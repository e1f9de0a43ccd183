// Builds the page into dist/: index.html and main.js, the bundle of src/main.ts
// with @fullstackagent/fsa-client and its dependencies. The client package is
// linked from clients/ts (file:../../clients/ts); its dist/ is compiled first
// when missing or older than its sources, and its TypeScript compiler
// type-checks src/ (both need `npm ci` in clients/ts).
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = path.resolve(here, "../../clients/ts");
const out = path.join(here, "dist");

async function mtime(p) {
  try {
    return (await stat(p)).mtimeMs;
  } catch {
    return 0;
  }
}

async function newestSource(dir) {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, await mtime(path.join(e.parentPath, e.name)));
  }
  return newest;
}

const built = await mtime(path.join(clientDir, "dist/index.js"));
if (built === 0 || built < (await newestSource(path.join(clientDir, "src")))) {
  if ((await mtime(path.join(clientDir, "node_modules/.package-lock.json"))) === 0) {
    throw new Error("clients/ts has no node_modules: run `npm ci` in clients/ts (or `make ts-frontend-deps`)");
  }
  console.log("building clients/ts (npm run build)");
  execFileSync("npm", ["run", "build"], { cwd: clientDir, stdio: "inherit" });
}

// Type-check with the TypeScript compiler clients/ts already installs (esbuild only strips types).
execFileSync(path.join(clientDir, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: here, stdio: "inherit" });

await mkdir(out, { recursive: true });
await esbuild.build({
  absWorkingDir: here,
  entryPoints: ["src/main.ts"],
  outfile: path.join(out, "main.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  sourcemap: true,
  logLevel: "warning",
});
await copyFile(path.join(here, "index.html"), path.join(out, "index.html"));
console.log("built examples/ts-frontend/dist: index.html, main.js");
