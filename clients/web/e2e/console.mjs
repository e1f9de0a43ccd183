// End-to-end flow of the web console in headless Chromium, run by
// e2e_test.go against a real fsad and a local Kubernetes control plane.
//
// Environment: FSA_URL (fsad base URL), FSA_USERNAME, FSA_PASSWORD,
// FSA_KUBECONFIG_FILE (the user's kubeconfig, a secret: read, never printed),
// FSA_NAMESPACE (its namespace), FSA_DOMAIN (sandbox ingress domain),
// FSA_ARTIFACTS (directory for screenshots), CHROMIUM (browser binary),
// FSA_SANDBOX_ROOT (the sandbox stand-in's directory on the local control
// plane, where the test appends to a pod's log; empty on a real cluster).
//
// Each step prints "ok <step>"; any failure prints "FAIL <step>: <why>",
// saves failure.png and exits 1.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, readFile } from "node:fs/promises";
import path from "node:path";

import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("FSA_URL");
const username = env("FSA_USERNAME");
const password = env("FSA_PASSWORD");
const kubeconfig = await readFile(env("FSA_KUBECONFIG_FILE"), "utf8");
const namespace = env("FSA_NAMESPACE");
const domain = env("FSA_DOMAIN");
const artifacts = env("FSA_ARTIFACTS");
const sandboxRoot = process.env.FSA_SANDBOX_ROOT ?? "";
const projectName = "Web E2E";
const slow = 150_000; // reconcile on a shared 2-core machine

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(30_000);

// Every request the page makes, to check for polling and leaked tokens.
const requests = [];
page.on("request", (r) => requests.push({ url: r.url(), method: r.method() }));
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("dialog", (d) => void d.accept());

// The terminal host does not exist here: answer its requests with a stub page
// and remember how they were made.
const terminalHits = [];
await page.route(`https://*.${domain}/**`, async (route) => {
  const req = route.request();
  terminalHits.push({ url: req.url(), headers: await req.allHeaders() });
  await route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>ttyd</title><p id=stub>terminal stub</p>" });
});

let current = "start";
async function step(name, fn) {
  current = name;
  await fn();
  console.log(`ok ${name}`);
}
// The fsa API from the test itself (not the page), with the page's session
// token: Connect's JSON protocol, unary and server-streaming.
const token = () => page.evaluate(() => sessionStorage.getItem("fsa.session"));
async function api(method, body) {
  const res = await fetch(`${base}/fsa.v1.${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${await token()}` },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  assert.equal(res.status, 200, `${method}: ${JSON.stringify(json)}`);
  return json;
}
async function apiStream(method, body) {
  const msg = Buffer.from(JSON.stringify(body));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  const res = await fetch(`${base}/fsa.v1.${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/connect+json", Authorization: `Bearer ${await token()}` },
    body: Buffer.concat([head, msg]),
  });
  assert.equal(res.status, 200, method);
  const buf = Buffer.from(await res.arrayBuffer());
  const out = [];
  for (let off = 0; off < buf.length; ) {
    const flags = buf[off];
    const n = buf.readUInt32BE(off + 1);
    const m = JSON.parse(buf.subarray(off + 5, off + 5 + n).toString("utf8"));
    off += 5 + n;
    if (flags & 2) {
      assert.equal(m.error, undefined, `${method}: ${JSON.stringify(m.error)}`);
      break;
    }
    out.push(m);
  }
  return out;
}
const projectId = () => decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1));
const fileRow = (name) => page.locator(`[data-testid=file-browser] tr[data-file-name="${name}"]`);

const rpc = (name) => requests.filter((r) => r.url.includes(`/fsa.v1.ProjectService/${name}`)).length;
const row = () => page.locator(`tr[data-project-name="${projectName}"]`);

try {
  await step("console loads at /ui with a sign-in form", async () => {
    const resp = await page.goto(`${base}/ui`); // the URL `make run` prints
    assert.equal(resp.status(), 200);
    assert.equal(new URL(page.url()).pathname, "/ui/");
    assert.match(resp.headers()["content-security-policy"] ?? "", /frame-src https:/);
    await page.getByTestId("username").waitFor();
  });

  await step("sign up", async () => {
    await page.getByTestId("toggle-sign-up").click();
    await page.getByTestId("username").fill(username);
    await page.getByTestId("password").fill(password);
    await page.getByTestId("sign-in").click();
    await page.getByTestId("sign-out").waitFor();
    const stored = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length }));
    assert.equal(stored.session, 1, "the token is kept in sessionStorage");
    assert.equal(stored.local, 0, "nothing in localStorage");
  });

  await step("set the kubeconfig in settings", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByTestId("kubeconfig-missing").waitFor();
    await page.getByTestId("kubeconfig").fill(kubeconfig);
    await page.getByTestId("save-kubeconfig").click();
    await page.getByTestId("kubeconfig-namespace").getByText(namespace, { exact: true }).waitFor();
    assert.equal(await page.getByTestId("kubeconfig").inputValue(), "", "the kubeconfig is not kept in the page");
    // The quota card: no project yet, no limits configured.
    await page.getByTestId("quota-projects").getByText("no limit").waitFor();
    assert.match(await page.getByTestId("quota-storage").textContent(), /Storage \(all projects\)0no limit/);
  });

  await step("default idle limit and auto-delete in settings", async () => {
    await page.getByTestId("default-idle-in-force").getByText("in force: never (server default)").waitFor();
    await page.getByTestId("default-idle-timeout").fill("45m");
    await page.getByTestId("default-delete-stopped-after").fill("72h");
    await page.getByTestId("save-lifecycle-defaults").click();
    await page.getByTestId("default-idle-in-force").getByText("in force: 45m (your setting)").waitFor();
    await page.getByTestId("default-delete-in-force").getByText("in force: 3d (your setting)").waitFor();
    // A bad value: the server's message, nothing changed.
    await page.getByTestId("default-idle-timeout").fill("soon");
    await page.getByTestId("save-lifecycle-defaults").click();
    await page.getByTestId("flash").getByText("IDLE_TIMEOUT must be a duration", { exact: false }).waitFor();
    // Read again from the server: leave the page and come back (a reload would open a second
    // watch stream, which a later step counts).
    await page.getByRole("link", { name: "Projects" }).click();
    await page.getByTestId("link-state").waitFor();
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByTestId("default-idle-in-force").getByText("in force: 45m (your setting)").waitFor();
    assert.equal(await page.getByTestId("default-idle-timeout").inputValue(), "45m", "the refused value was not stored");
    // Empty fields: the server's defaults again (the rest of the flow runs without limits).
    await page.getByTestId("default-idle-timeout").fill("");
    await page.getByTestId("default-delete-stopped-after").fill("");
    await page.getByTestId("save-lifecycle-defaults").click();
    await page.getByTestId("default-idle-in-force").getByText("in force: never (server default)").waitFor();
    await page.getByTestId("default-delete-in-force").getByText("in force: never (server default)").waitFor();
  });

  let listsBefore = 0;
  let gets = 0;
  await step("project list is live", async () => {
    await page.getByRole("link", { name: "Projects" }).click();
    await page.getByTestId("link-state").getByText("Live", { exact: false }).waitFor();
    await page.getByTestId("no-projects").waitFor();
    // From here on: a marker that a reload would lose, and every status the
    // new project's row shows, in order.
    await page.evaluate((name) => {
      window.__e2eMarker = "same page";
      window.__seen = [];
      // Rows are rebuilt on every change: read each added row as it was
      // added (a later change may already have replaced it).
      const sel = `tr[data-project-name="${name}"]`;
      const record = (mutations) => {
        for (const m of mutations) {
          for (const n of m.addedNodes) {
            if (!(n instanceof Element)) continue;
            for (const r of n.matches(sel) ? [n] : n.querySelectorAll(sel)) {
              const s = r.querySelector("[data-testid=status]")?.textContent;
              if (s && window.__seen.at(-1) !== s) window.__seen.push(s);
            }
          }
        }
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
    }, projectName);
    listsBefore = rpc("ListProjects");
    gets = rpc("GetProject");
  });

  await step("create a project: CREATING → RUNNING without reload", async () => {
    await page.getByTestId("new-project-name").fill(projectName);
    await page.getByTestId("create-project").click();
    await row().waitFor();
    await page.waitForFunction(() => window.__seen.includes("RUNNING"), null, { timeout: slow, polling: 200 });
    const seen = await page.evaluate(() => window.__seen);
    assert.equal(seen[0], "CREATING", `first status shown: ${seen.join(" → ")}`);
    assert.ok(seen.indexOf("RUNNING") > 0, `statuses: ${seen.join(" → ")}`);
    // The sandbox may restart once more to pick up its environment: wait
    // for the row to settle on RUNNING.
    await row().locator("[data-testid=status]").getByText("RUNNING", { exact: true }).waitFor({ timeout: slow });
    assert.equal(await page.evaluate(() => window.__e2eMarker), "same page", "the page was not reloaded");
    assert.equal(rpc("ListProjects"), listsBefore, "no polling: no ListProjects after the first listing");
    assert.equal(rpc("GetProject"), gets, "no polling: no GetProject");
    assert.equal(rpc("WatchProjects"), 1, "one watch stream");
    console.log(`   statuses shown: ${seen.join(" → ")}`);
    // Allowed actions of RUNNING: stop and delete.
    const actions = await row().locator("button[data-action]").evaluateAll((bs) => bs.map((b) => b.dataset.action));
    assert.deepEqual(actions, ["stop", "delete"]);
    await page.screenshot({ path: path.join(artifacts, "projects-running.png"), fullPage: true });
  });

  await step("project details with Explain", async () => {
    await row().getByRole("link", { name: projectName }).click();
    await page.waitForURL(/\/ui\/projects\/[^/]+$/);
    await page.getByTestId("project-name").getByText(projectName).waitFor();
    await page.getByTestId("project-size").getByText("standard: cpu 2, memory 4Gi, home 10Gi, db 3Gi").waitFor();
    await page.getByTestId("explain").click();
    await page.getByTestId("explanation").getByText("Sandbox").first().waitFor();
    await page.getByTestId("explanation").getByText("Database").first().waitFor();
  });

  await step("the app is private by default; the toggle publishes it and back", async () => {
    const cell = page.getByTestId("app-url");
    await cell.getByText("private", { exact: false }).waitFor();
    assert.equal(await page.getByTestId("public-app").isChecked(), false);
    await page.getByTestId("public-app").click();
    // Public: the reconciler makes the Ingress and records its URL.
    await cell.locator(`a[href^="https://"][href$=".${domain}"]`).waitFor({ timeout: slow });
    assert.equal(await page.getByTestId("public-app").isChecked(), true);
    let got = await api("ProjectService/GetProject", { id: projectId() });
    assert.equal(got.project.sandbox.publicApp, true);
    assert.match(got.project.sandbox.appUrl, new RegExp(`^https://[^/]+\\.${domain.replaceAll(".", "\\.")}$`));
    await page.getByTestId("public-app").click();
    await cell.getByText("private", { exact: false }).waitFor();
    assert.equal(await cell.locator("a").count(), 0, "no public URL shown");
    got = await api("ProjectService/GetProject", { id: projectId() });
    assert.equal(got.project.sandbox.publicApp ?? false, false);
    assert.equal(got.project.sandbox.appUrl ?? "", "", "no public URL advertised");
  });

  await step("env editor masks secrets", async () => {
    const secret = "e2e-secret-value-9c1f";
    await page.getByTestId("env-key").fill("E2E_SECRET");
    await page.getByTestId("env-value").fill(secret);
    assert.equal(await page.getByTestId("env-value").getAttribute("type"), "password");
    await page.getByTestId("env-save").click();
    const cell = page.locator('tr[data-env-key="E2E_SECRET"] [data-testid=env-value-cell]');
    await cell.getByText("••••••••").waitFor();
    assert.ok(!(await page.content()).includes(secret), "the secret is not in the page");
    await page.getByTestId("env-reveal").click();
    await cell.getByText(secret).waitFor();
    await page.getByTestId("env-reveal").click();
    await cell.getByText("••••••••").waitFor();
    // Platform-owned variables (the terminal's token) are listed, masked,
    // without a delete button.
    const platform = page.locator('tr[data-env-key="TTYD_ACCESS_TOKEN"]');
    await platform.getByText("platform").waitFor();
    assert.equal(await platform.locator("[data-testid=env-value-cell]").textContent(), "••••••••");
    assert.equal(await platform.locator("[data-testid=env-delete]").count(), 0);
  });

  await step("terminal iframe points at the terminal host with a ticket", async () => {
    // The terminal opens once the sandbox is RUNNING; the env change above
    // restarts it. Like a person, retry after it is back.
    const frame = page.getByTestId("terminal-frame");
    for (let attempt = 1; ; attempt++) {
      await page.getByTestId("sandbox-status").getByText("RUNNING", { exact: true }).waitFor({ timeout: slow });
      const opened = page.waitForResponse((r) => r.url().includes("/TerminalAccess"));
      await page.getByTestId("open-terminal").click();
      if ((await opened).status() === 200) break;
      assert.ok(attempt < 5, "TerminalAccess kept failing");
      await page.getByTestId("terminal-error").waitFor();
      console.log(`   terminal not ready (attempt ${attempt}): ${await page.getByTestId("terminal-error").textContent()}`);
    }
    const before = rpc("TerminalAccess") - 1;
    await frame.waitFor();
    const src = new URL(await frame.getAttribute("src"));
    assert.equal(src.protocol, "https:");
    assert.ok(src.hostname.endsWith(`.${domain}`), `terminal host ${src.hostname} is under ${domain}`);
    assert.ok((src.searchParams.get("arg") ?? "").length > 10, "the URL carries a ticket");
    assert.equal(await frame.getAttribute("referrerpolicy"), "no-referrer");
    assert.equal(rpc("TerminalAccess"), before + 1);
    await page.frameLocator("[data-testid=terminal-frame]").locator("#stub").waitFor();
    assert.equal(terminalHits.length, 1);
    assert.equal(terminalHits[0].url, src.href);
    assert.equal(terminalHits[0].headers.referer, undefined, "no Referer sent to the terminal host");
    const stubCount = terminalHits.length;
    // Reopening asks for a fresh URL.
    const again = page.waitForResponse((r) => r.url().includes("/TerminalAccess"));
    await page.getByTestId("open-terminal").click();
    await again;
    assert.equal(rpc("TerminalAccess"), before + 2);
    assert.ok(stubCount >= 1);
    await page.screenshot({ path: path.join(artifacts, "console.png"), fullPage: true });
  });


  await step("log view shows the sandbox's log and follows it", async () => {
    await page.getByTestId("sandbox-status").getByText("RUNNING", { exact: true }).waitFor({ timeout: slow });
    await page.getByTestId("logs-tail").fill("50");
    const out = page.getByTestId("logs-output");
    const started = out.getByText("sandbox stand-in: container", { exact: false });
    // The env change above restarted the sandbox: its new pod's log may not
    // be served yet. Like a person, try again a moment later.
    for (let attempt = 1; ; attempt++) {
      await page.getByTestId("logs-follow").click();
      await started.or(page.getByTestId("logs-error")).waitFor();
      if (await started.isVisible()) break;
      assert.ok(attempt < 10, `the log never came: ${await page.getByTestId("logs-error").textContent()}`);
      console.log(`   log not ready (attempt ${attempt}): ${await page.getByTestId("logs-error").textContent()}`);
      await page.waitForTimeout(1000);
    }
    assert.equal(await page.getByTestId("logs-follow").textContent(), "Stop");
    if (sandboxRoot) {
      // A new line in the container's log reaches the open view (follow).
      const pod = /container (\S+) started/.exec(await out.textContent())[1];
      const line = `e2e log line ${randomBytes(4).toString("hex")}`;
      await appendFile(path.join(sandboxRoot, namespace, pod, "container.log"), `${new Date().toISOString()} stdout F ${line}\n`);
      await out.getByText(line).waitFor();
    }
  });

  const written = randomBytes(300 * 1024 + 7); // more than one ReadFile chunk
  await step("file browser lists a file written through the API, with size and mode", async () => {
    await api("SandboxService/MakeDir", { projectId: projectId(), path: "e2e-files", parents: true });
    await api("SandboxService/PutFile", { projectId: projectId(), path: "e2e-files/blob.bin", content: written.toString("base64"), mode: 0o640 });
    await page.getByTestId("files-path").fill(".");
    await page.getByTestId("files-go").click();
    await fileRow("e2e-files").getByTestId("files-open").click();
    await fileRow("blob.bin").waitFor();
    assert.equal(await page.getByTestId("files-path").inputValue(), "e2e-files");
    assert.equal(await fileRow("blob.bin").getByTestId("file-size").textContent(), "300 KiB");
    await fileRow("blob.bin").getByText("-rw-r-----").waitFor();
    await page.getByTestId("files-up").click();
    await fileRow("e2e-files").waitFor();
    assert.equal(await page.getByTestId("files-path").inputValue(), ".");
    await fileRow("e2e-files").getByTestId("files-open").click();
    await fileRow("blob.bin").waitFor();
  });

  await step("download gives the file's bytes", async () => {
    const started = page.waitForEvent("download");
    await fileRow("blob.bin").getByTestId("files-download").click();
    const dl = await started;
    assert.equal(dl.suggestedFilename(), "blob.bin");
    const got = await readFile(await dl.path());
    assert.equal(got.length, written.length);
    assert.ok(got.equals(written), "the downloaded bytes are the file's");
    await page.getByTestId("files-note").getByText("downloaded blob.bin").waitFor();
  });

  await step("upload shows in the listing and reads back through the API", async () => {
    const up = randomBytes(200 * 1024 + 3);
    await page.getByTestId("files-upload-input").setInputFiles({ name: "up.bin", mimeType: "application/octet-stream", buffer: up });
    await page.getByTestId("files-upload").click();
    await fileRow("up.bin").waitFor();
    await page.getByTestId("files-note").getByText("uploaded e2e-files/up.bin").waitFor();
    const msgs = await apiStream("SandboxService/ReadFile", { projectId: projectId(), path: "e2e-files/up.bin" });
    const back = Buffer.concat(msgs.filter((m) => m.data).map((m) => Buffer.from(m.data, "base64")));
    assert.ok(back.equals(up), `read back ${back.length} bytes, uploaded ${up.length}`);
    // Past the server's message limit (1 MiB): a clear error, nothing written.
    await page.getByTestId("files-upload-input").setInputFiles({ name: "big.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(1536 * 1024, 1) });
    await page.getByTestId("files-upload").click();
    const err = page.getByTestId("files-error");
    await err.waitFor();
    const text = await err.textContent();
    assert.match(text, /^upload big\.bin: 1\.5 MiB is more than the server takes in one request/, text);
    assert.match(text, /fsactl cp/);
    const list = await api("SandboxService/ListDir", { projectId: projectId(), path: "e2e-files" });
    assert.deepEqual(list.entries.map((e) => e.name), ["blob.bin", "up.bin"]);
    await page.screenshot({ path: path.join(artifacts, "sandbox.png"), fullPage: true });
  });

  await step("open preview reaches the app in a new tab", async () => {
    const popup = page.waitForEvent("popup");
    await page.getByTestId("open-preview").click();
    const tab = await popup;
    await tab.waitForURL(new RegExp(`/preview/${projectId()}/$`), { timeout: 60_000 });
    await tab.waitForFunction(() => document.body?.innerText.includes("sandbox app of"));
    const body = await tab.evaluate(() => document.body.innerText);
    assert.match(body, new RegExp(`^sandbox app of ${namespace}/\\S+: GET /\\n?$`));
    assert.equal(await tab.evaluate(() => window.opener), null, "the preview tab has no opener");
    await tab.close();
    assert.equal(await page.getByTestId("preview-error").count(), 0);
  });

  await step("leaving the page ends the log stream", async () => {
    const ended = page.waitForEvent("requestfailed", (r) => r.url().includes("/fsa.v1.SandboxService/StreamLogs"));
    await page.getByRole("link", { name: "← Projects" }).click();
    await ended;
  });

  await step("stop: STOPPED, and the allowed actions follow", async () => {
    await row().locator("[data-testid=status]").getByText("RUNNING", { exact: true }).waitFor({ timeout: slow });
    await row().locator('button[data-action="stop"]').click();
    await row().locator("[data-testid=status]").getByText("STOPPED", { exact: true }).waitFor({ timeout: slow });
    const actions = await row().locator("button[data-action]").evaluateAll((bs) => bs.map((b) => b.dataset.action));
    assert.deepEqual(actions, ["start", "delete"]);
  });

  await step("log view and files say the sandbox is not RUNNING", async () => {
    await row().getByRole("link", { name: projectName }).click();
    await page.getByTestId("sandbox-status").getByText("STOPPED", { exact: true }).waitFor();
    await page.getByTestId("logs-follow").click();
    const err = page.getByTestId("logs-error");
    await err.waitFor();
    assert.match(await err.textContent(), /^FailedPrecondition: .*STOPPED/);
    assert.equal(await page.getByTestId("logs-follow").textContent(), "Follow log");
    await page.getByTestId("file-browser").getByTestId("files-error").getByText("FailedPrecondition", { exact: false }).waitFor();
    await page.getByRole("link", { name: "← Projects" }).click();
  });

  await step("delete: the project disappears without reload", async () => {
    await row().waitFor();
    await row().locator('button[data-action="delete"]').click();
    await row().waitFor({ state: "detached", timeout: slow });
    const seen = await page.evaluate(() => window.__seen);
    assert.ok(seen.includes("TERMINATING"), `statuses: ${seen.join(" → ")}`);
    assert.equal(await page.evaluate(() => window.__e2eMarker), "same page", "the page was not reloaded");
    assert.equal(rpc("ListProjects"), listsBefore, "no polling");
    await page.getByTestId("no-projects").waitFor();
  });

  await step("no token in any URL; sign out clears it", async () => {
    const token = await page.evaluate(() => sessionStorage.getItem("fsa.session"));
    assert.ok(token);
    for (const r of requests) assert.ok(!r.url.includes(token), `token in ${r.method} ${r.url.slice(0, 60)}`);
    await page.getByTestId("sign-out").click();
    await page.getByTestId("username").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.deepEqual(consoleErrors.filter((e) => !e.includes("net::") && !e.startsWith("Failed to load resource")), [], "no errors in the console");
  });
  console.log("PASS");
} catch (err) {
  console.log(`FAIL ${current}: ${err?.stack ?? err}`);
  await page.screenshot({ path: path.join(artifacts, "failure.png"), fullPage: true }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
