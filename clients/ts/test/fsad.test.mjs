// Tests of the built package (dist/) against a real fsad process that this file
// starts: the binary at $FSAD_BIN, else <repo>/.cache/bin/fsad (`make fsad`).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { Code, ConnectError } from "@connectrpc/connect";

import {
  createFsaClient,
  EventType,
  ResyncRequiredError,
  Status,
  watchProjects,
} from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const fsadBin = process.env.FSAD_BIN || resolve(here, "../../../.cache/bin/fsad");

const fakeKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:9
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: ns-nowhere}
current-context: nowhere
users:
- name: nobody
  user: {token: not-a-real-token}
`;

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** waitFor polls cond every 20 ms until it returns a truthy value or the deadline passes. */
async function waitFor(cond, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Daemon is one fsad process, restartable on the same port and data directory. */
class Daemon {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "fsa-ts-test-"));
    this.key = `ts:${randomBytes(32).toString("base64url")}`;
    this.kek = `ts:${randomBytes(32).toString("base64url")}`; // the keyring secrets are sealed with
    this.child = undefined;
  }

  async start() {
    if (!existsSync(fsadBin)) {
      throw new Error(`no fsad binary at ${fsadBin}: run 'make fsad' or set FSAD_BIN`);
    }
    this.port ??= await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const log = createWriteStream(join(this.dir, "fsad.log"), { flags: "a" });
    await new Promise((r) => log.on("open", r));
    const child = spawn(
      fsadBin,
      ["--data-dir", join(this.dir, "data"), "--listen", `127.0.0.1:${this.port}`,
        "--domain", "sandbox.fsa.test", "--log-format", "text",
        // Open watch streams hold a graceful shutdown for this long.
        "--shutdown-timeout", "2s",
        // Some tests write as fast as they can from a few users.
        "--rate-limit", "-1"],
      { env: { ...process.env, FSA_SIGNING_KEY: this.key, FSA_KEK: this.kek }, stdio: ["ignore", log, log] },
    );
    this.child = child;
    this.exited = new Promise((r) => child.on("exit", r));
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`fsad exited: ${this.log()}`);
      try {
        return (await fetch(`${this.url}/readyz`)).ok;
      } catch {
        return false;
      }
    }, "fsad /readyz");
  }

  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill("SIGTERM");
    // fsad may linger after its HTTP shutdown while this process keeps connections open.
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  log() {
    try {
      return readFileSync(join(this.dir, "fsad.log"), "utf8").split("\n").slice(-30).join("\n");
    } catch {
      return "";
    }
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const fsad = new Daemon();
// A crashed test run must not leave the daemon behind.
process.on("exit", () => fsad.child?.kill("SIGKILL"));

before(async () => fsad.start());
after(async () => {
  await fsad.stop();
  if (!process.env.FSA_KEEP_TEST_DIR) fsad.cleanup();
});

let userSeq = 0;
/** signUp creates a user with a kubeconfig and returns a client carrying its session. */
async function signUp(extra = {}) {
  const name = `ts-user-${process.pid}-${++userSeq}`;
  const anon = createFsaClient({ baseUrl: fsad.url });
  const { session } = await anon.auth.signUp({ username: name, password: `password-${name}` });
  assert.ok(session?.token);
  const fsa = createFsaClient({ baseUrl: fsad.url, token: session.token, ...extra });
  await fsa.userConfig.setKubeconfig({ kubeconfig: fakeKubeconfig });
  return { fsa, name, token: session.token };
}

describe("against fsad", () => {
  test("sign-up, create, list and get", async () => {
    const { fsa, name } = await signUp();
    const me = await fsa.auth.whoAmI({});
    assert.equal(me.user?.name, name);

    const { project } = await fsa.projects.createProject({ name: "blog", description: "my blog" });
    assert.equal(project?.status, Status.CREATING);
    assert.ok(project.version > 0n);

    const list = await fsa.projects.listProjects({});
    assert.deepEqual(list.projects.map((p) => p.name), ["blog"]);
    assert.ok(list.revision >= project.version);

    const got = await fsa.projects.getProject({ id: project.id });
    assert.equal(got.project?.description, "my blog");
    assert.ok(got.project?.sandbox?.id, "with its sandbox");

    await assert.rejects(fsa.projects.createProject({ name: "blog" }), (err) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.AlreadyExists);
      return true;
    });
    const other = (await signUp()).fsa;
    await assert.rejects(other.projects.getProject({ id: project.id }), { code: Code.NotFound });
    const anon = createFsaClient({ baseUrl: fsad.url });
    await assert.rejects(anon.projects.listProjects({}), { code: Code.Unauthenticated });
  });

  test("the app is private unless asked; SetPublicApp switches it", async () => {
    const { fsa } = await signUp();
    const quiet = (await fsa.projects.createProject({ name: "quiet" })).project;
    assert.equal(quiet?.sandbox?.publicApp, false);
    const loud = (await fsa.projects.createProject({ name: "loud", publicApp: true })).project;
    assert.equal(loud?.sandbox?.publicApp, true);
    const set = await fsa.projects.setPublicApp({ projectId: quiet.id, publicApp: true });
    assert.equal(set.project?.sandbox?.publicApp, true);
    assert.ok(set.project.sandbox.version > quiet.sandbox.version);
    const back = await fsa.projects.setPublicApp({ projectId: quiet.id, publicApp: false });
    assert.equal(back.project?.sandbox?.publicApp, false);
    assert.equal(back.project?.sandbox?.appUrl, "", "a private app advertises no URL");
    const other = (await signUp()).fsa;
    await assert.rejects(other.projects.setPublicApp({ projectId: quiet.id, publicApp: true }), { code: Code.NotFound });
  });

  test("sizes and quota: a sized create, the caller's use, a resize refused while not stopped", async () => {
    const { fsa } = await signUp();
    const classes = await fsa.quota.listSizeClasses({});
    assert.equal(classes.defaultClass, "standard");
    assert.ok(classes.max.homeBytes > classes.min.homeBytes);

    const { project } = await fsa.projects.createProject({ name: "sized", size: { home: "20Gi", cpu: "1500m" } });
    assert.equal(project?.size?.class, "standard");
    assert.equal(project.size.homeBytes, 20n << 30n);
    assert.equal(project.size.cpuMillis, 1500n);

    const { quota } = await fsa.quota.getQuota({});
    assert.equal(quota?.usage?.projects, 1);
    assert.equal(quota.usage.storageBytes, project.size.homeBytes + project.size.databaseBytes);
    assert.equal(quota.custom, false);

    await assert.rejects(fsa.projects.resizeProject({ id: project.id, size: { cpu: "2" } }), { code: Code.FailedPrecondition });
    await assert.rejects(fsa.projects.createProject({ name: "bad", size: { class: "huge" } }), { code: Code.InvalidArgument });
    await assert.rejects(fsa.quota.setUserLimits({ userId: "x", limits: { projects: 1 } }), { code: Code.PermissionDenied });
  });

  test("lifecycle defaults: the caller's own idle limit and auto-delete, fsad's where unset", async () => {
    const { fsa } = await signUp();
    const other = (await signUp()).fsa;
    let d = (await fsa.userConfig.getLifecycleDefaults({})).defaults;
    assert.equal(d?.idleTimeoutSet, false);
    assert.equal(d.idleTimeout?.seconds ?? 0n, 0n, "fsad's default here: never");
    assert.equal(d.serverIdleTimeout?.seconds ?? 0n, 0n);

    d = (await fsa.userConfig.setLifecycleDefaults({ idleTimeout: "45m", deleteStoppedAfter: "48h" })).defaults;
    assert.equal(d?.idleTimeoutSet, true);
    assert.equal(d.idleTimeout?.seconds, 2700n);
    assert.equal(d.deleteStoppedAfter?.seconds, 172800n);
    const { project } = await fsa.projects.createProject({ name: "defaults" });
    assert.equal(project?.lifecycle?.idleTimeout?.seconds, 2700n, "the new project gets the caller's default");
    assert.equal(project.lifecycle.deleteStoppedAfter?.seconds, 172800n);
    const theirs = (await other.userConfig.getLifecycleDefaults({})).defaults;
    assert.equal(theirs?.idleTimeoutSet, false, "another user's defaults are their own");

    for (const bad of ["-5m", "soon", "2161h"]) {
      await assert.rejects(fsa.userConfig.setLifecycleDefaults({ idleTimeout: bad }), { code: Code.InvalidArgument }, bad);
    }
    d = (await fsa.userConfig.getLifecycleDefaults({})).defaults;
    assert.equal(d?.idleTimeout?.seconds, 2700n, "unchanged by the refused calls");

    d = (await fsa.userConfig.setLifecycleDefaults({ idleTimeout: "" })).defaults;
    assert.equal(d?.idleTimeoutSet, false, "an empty value removes the setting");
    assert.equal(d.deleteStoppedAfterSet, true, "an absent one stays");
  });

  test("environment variables: secrets are redacted unless revealed", async () => {
    const { fsa } = await signUp();
    const { project } = await fsa.projects.createProject({ name: "env-demo" });
    await fsa.environment.setEnv({ projectId: project.id, key: "GREETING", value: "hello" });
    await fsa.environment.setEnv({ projectId: project.id, key: "API_TOKEN", value: "tok-s3cret", secret: true, category: "keys" });

    const byKey = (vars) => Object.fromEntries(vars.map((v) => [v.key, v]));
    const hidden = byKey((await fsa.environment.listEnv({ projectId: project.id })).vars);
    assert.equal(hidden.GREETING.value, "hello");
    assert.equal(hidden.API_TOKEN.value, "");
    assert.equal(hidden.API_TOKEN.redacted, true);
    assert.equal(hidden.API_TOKEN.secret, true);
    assert.equal(hidden.API_TOKEN.category, "keys");

    const shown = byKey((await fsa.environment.listEnv({ projectId: project.id, revealSecrets: true })).vars);
    assert.equal(shown.API_TOKEN.value, "tok-s3cret");
    assert.equal(shown.API_TOKEN.redacted, false);

    await fsa.environment.deleteEnv({ projectId: project.id, key: "GREETING" });
    const after = byKey((await fsa.environment.listEnv({ projectId: project.id })).vars);
    assert.equal(after.GREETING, undefined);
  });

  test("watch resumes after its stream is aborted, without gap or duplicate", async () => {
    // A fetch whose WatchProjects streams the test can cut.
    const streams = [];
    const cuttable = (input, init = {}) => {
      if (!String(input).includes("WatchProjects")) return fetch(input, init);
      const ac = new AbortController();
      init.signal?.addEventListener("abort", () => ac.abort(init.signal.reason), { once: true });
      streams.push(ac);
      return fetch(input, { ...init, signal: ac.signal });
    };
    const { fsa } = await signUp({ fetch: cuttable });
    const { revision: from } = await fsa.projects.listProjects({});

    const events = [];
    const retries = [];
    const stop = new AbortController();
    const watching = watchProjects(fsa, {
      fromRevision: from,
      signal: stop.signal,
      initialBackoffMs: 10,
      onRetry: (err, attempt) => retries.push([err.code, attempt]),
      onEvent: (ev) => {
        if (ev.type !== EventType.PROGRESS) events.push(`${ev.revision} ${ev.resource.case} ${ev.resource.value.id}`);
      },
    });
    const seenAt = (rev) => events.some((e) => BigInt(e.split(" ")[0]) >= rev);

    const one = (await fsa.projects.createProject({ name: "one" })).project;
    await waitFor(() => seenAt(one.version), "the first project's events");

    // Cut the stream, change things while it is down, cut the next one too.
    streams.at(-1).abort(new Error("cut by the test"));
    const two = (await fsa.projects.createProject({ name: "two" })).project;
    await waitFor(() => streams.length >= 2, "a reconnection");
    streams.at(-1).abort(new Error("cut by the test"));
    const three = (await fsa.projects.createProject({ name: "three" })).project;
    await waitFor(() => seenAt(three.version), "the third project's events");
    assert.ok(retries.length >= 2, `retried: ${JSON.stringify(retries)}`);
    assert.ok(streams.length >= 3);
    assert.ok(two.version > one.version);

    stop.abort();
    await watching; // resolves when aborted

    // A watch that was never cut delivers the same events up to the last change.
    const want = [];
    const refStop = new AbortController();
    await watchProjects(fsa, {
      fromRevision: from,
      signal: refStop.signal,
      onEvent: (ev) => {
        // The replay ends with a PROGRESS message at the revision the server caught up to.
        if (ev.type === EventType.PROGRESS) {
          if (ev.revision >= three.version) refStop.abort();
          return;
        }
        want.push(`${ev.revision} ${ev.resource.case} ${ev.resource.value.id}`);
      },
    });
    want.splice(0, want.length, ...want.filter((e) => BigInt(e.split(" ")[0]) <= three.version));
    const got = events.filter((e) => BigInt(e.split(" ")[0]) <= three.version);
    assert.deepEqual(got, want);
    assert.equal(new Set(got).size, got.length, "no duplicate");
    for (const p of [one, two, three]) {
      assert.ok(got.includes(`${p.version} project ${p.id}`), `project ${p.name} seen`);
    }
  });

  test("watch resumes across a daemon restart", async () => {
    const { fsa } = await signUp();
    const { revision: from } = await fsa.projects.listProjects({});
    const events = [];
    const stop = new AbortController();
    let retries = 0;
    const watching = watchProjects(fsa, {
      fromRevision: from,
      signal: stop.signal,
      initialBackoffMs: 20,
      maxBackoffMs: 200,
      maxAttempts: 1000,
      onRetry: () => retries++,
      onEvent: (ev) => {
        if (ev.type === EventType.PUT && ev.resource.case === "project") events.push(`${ev.revision} ${ev.resource.value.name}`);
      },
    });
    await fsa.projects.createProject({ name: "before" });
    const named = (n) => events.filter((e) => e.endsWith(` ${n}`));
    await waitFor(() => named("before").length > 0, "the project created before the restart");

    await fsad.stop();
    await waitFor(() => retries > 0, "a failed reconnection");
    await fsad.start();
    await fsa.projects.createProject({ name: "after" });
    await waitFor(() => named("after").length > 0, "the project created after the restart");
    stop.abort();
    await watching;
    assert.equal(new Set(events).size, events.length, `no duplicate: ${events}`);
  });

  test("watch from a revision just listed or written, while others write, without a retry", async () => {
    // The first-run failure of `make run`: a single-node fsad groups concurrent commits, and a
    // watch from a revision the client had just seen was refused as "not reached yet".
    const writers = await Promise.all([signUp(), signUp(), signUp()]);
    let writing = true;
    let failed;
    const background = writers.map(async ({ fsa }, w) => {
      try {
        for (let i = 0; writing; i++) {
          await Promise.all([0, 1, 2, 3].map((j) => fsa.projects.createProject({ name: `bg-${w}-${i}-${j}` })));
        }
      } catch (err) {
        failed ??= err;
      }
    });
    const { fsa } = await signUp();
    /** watchOnce resolves with the first message matching want; a refusal rejects (maxAttempts 1). */
    const watchOnce = async (fromRevision, want) => {
      const stop = new AbortController();
      let got;
      await watchProjects(fsa, {
        fromRevision,
        signal: stop.signal,
        maxAttempts: 1,
        onEvent: (ev) => {
          if (want(ev)) {
            got = ev;
            stop.abort();
          }
        },
      });
      return got;
    };
    try {
      for (let i = 0; i < 25; i++) {
        const now = await watchOnce(0n, (ev) => ev.type === EventType.PROGRESS);
        assert.ok(now.revision > 0n);

        const { revision } = await fsa.projects.listProjects({});
        const listed = await watchOnce(revision, (ev) => ev.type === EventType.PROGRESS);
        assert.ok(listed.revision >= revision, `PROGRESS ${listed.revision} >= listed ${revision}`);

        const { project } = await fsa.projects.createProject({ name: `p${i}` });
        const put = await watchOnce(project.version - 1n,
          (ev) => ev.type === EventType.PUT && ev.resource.case === "project" && ev.resource.value.id === project.id);
        assert.equal(put.revision, project.version);
      }
    } finally {
      writing = false;
      await Promise.all(background);
    }
    assert.equal(failed, undefined, "a background write failed");
  });

  test("watch stops on errors retrying cannot fix, and on resync without onResync", async () => {
    const anon = createFsaClient({ baseUrl: fsad.url, token: "not-a-token" });
    await assert.rejects(watchProjects(anon, { onEvent: () => {} }), { code: Code.Unauthenticated });

    // onEvent's own error ends the watch as is.
    const { fsa } = await signUp();
    const boom = new Error("handler failed");
    await assert.rejects(watchProjects(fsa, { onEvent: () => { throw boom; } }), (err) => err === boom);

    assert.equal(new ResyncRequiredError(7n).revision, 7n);
  });
});
