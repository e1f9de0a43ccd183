// The browser flow of e2e_test.go: headless Chromium (playwright-core, no
// browser download) signs up on the page, creates a project and watches it
// reach RUNNING without a reload.
//
// Environment: PAGE_URL (the page, served with /fsa.v1.* proxied to fsad),
// FSA_USERNAME, FSA_PASSWORD, FSA_KUBECONFIG_FILE (a secret: read, never
// printed), FSA_ARTIFACTS (screenshots), CHROMIUM (browser binary).
// Each step prints "ok <step>"; a failure prints "FAIL <step>: <why>",
// saves failure.png and exits 1; success ends with "PASS".
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";

import { createFsaClient } from "@fullstackagent/fsa-client";
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const pageURL = env("PAGE_URL");
const username = env("FSA_USERNAME");
const password = env("FSA_PASSWORD");
const artifacts = env("FSA_ARTIFACTS");
const projectName = "TS Demo";
const slow = 150_000; // reconcile on a shared 2-core machine

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage();
page.setDefaultTimeout(30_000);
const requests = [];
page.on("request", (r) => requests.push(r.url()));
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
const rpc = (name) => requests.filter((u) => u.includes(`/fsa.v1.ProjectService/${name}`)).length;
const row = () => page.locator(`li[data-project="${projectName}"]`);

let current = "start";
async function step(name, fn) {
  current = name;
  await fn();
  console.log(`ok ${name}`);
}

try {
  await step("page loads with a sign-in form", async () => {
    const resp = await page.goto(pageURL);
    assert.equal(resp.status(), 200);
    await page.locator('#auth input[name="username"]').waitFor();
  });

  await step("sign up", async () => {
    await page.fill('#auth input[name="username"]', username);
    await page.fill('#auth input[name="password"]', password);
    await page.click('#auth button[name="signup"]');
    await page.locator("#who", { hasText: username }).waitFor();
    await page.locator("#live", { hasText: "live" }).waitFor();
    await page.locator("#projects", { hasText: "No projects yet." }).waitFor();
  });

  await step("create project without a kubeconfig shows the server's error", async () => {
    await page.fill('#create input[name="name"]', projectName);
    await page.click("#create button");
    await page.locator("#error", { hasText: "failed_precondition" }).waitFor();
  });

  await step("set the user's kubeconfig (through the client package, outside the page)", async () => {
    const fsa = createFsaClient({ baseUrl: new URL(pageURL).origin });
    const { session } = await fsa.auth.login({ username, password });
    const authed = createFsaClient({ baseUrl: new URL(pageURL).origin, token: session.token });
    await authed.userConfig.setKubeconfig({ kubeconfig: await readFile(env("FSA_KUBECONFIG_FILE"), "utf8") });
  });

  await step("create project: it appears through the watch stream", async () => {
    await page.click("#create button"); // the name is still in the field
    await row().waitFor();
    assert.equal(await page.locator("#error").textContent(), "");
    const status = await row().getAttribute("data-status");
    assert.match(status, /^(CREATING|STARTING|RUNNING)$/);
    console.log(`  first status shown: ${status}`);
  });

  await step("project reaches RUNNING without a reload or polling", async () => {
    // The row's attribute and its text say RUNNING (one locator: the status may move on after).
    await page
      .locator(`li[data-project="${projectName}"][data-status="RUNNING"]`, { hasText: `${projectName}: RUNNING` })
      .waitFor({ timeout: slow });
    assert.equal(rpc("ListProjects"), 1, "the page lists once and then only watches");
    assert.ok(rpc("WatchProjects") >= 1, "the page watches");
    assert.equal(requests.filter((u) => u === pageURL || u === `${pageURL}/`).length, 1, "no reload");
    await page.screenshot({ path: path.join(artifacts, "running.png"), fullPage: true });
  });

  assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
  console.log("PASS");
} catch (err) {
  console.log(`FAIL ${current}: ${err?.stack ?? err}`);
  for (const id of ["live", "error", "projects"]) {
    console.log(`  #${id}: ${await page.locator(`#${id}`).textContent().catch((e) => e.message)}`);
  }
  await page.screenshot({ path: path.join(artifacts, "failure.png"), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
