// Runs the unit tests: bundles each test/*.test.ts with esbuild for Node into
// a temporary directory and runs them with node --test.
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

import { pinnedDeps } from "../esbuild-pin.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const tests = (await readdir(here)).filter((f) => f.endsWith(".test.ts")).sort();
const out = await mkdtemp(path.join(tmpdir(), "fsa-web-test-"));
try {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: tests.map((f) => path.join("test", f)),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: out,
    outExtension: { ".js": ".mjs" },
    external: ["node:*"],
    alias: pinnedDeps,
    tsconfigRaw: {},
    logLevel: "warning",
  });
  const files = tests.map((f) => path.join(out, f.replace(/\.ts$/, ".mjs")));
  const r = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  await rm(out, { recursive: true, force: true });
}
