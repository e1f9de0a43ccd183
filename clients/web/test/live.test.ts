import assert from "node:assert/strict";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";

import {
  EventType,
  ProjectService,
  Status,
  type Project,
  type WatchProjectsResponse,
} from "../src/api.js";
import { LiveProjects } from "../src/live.js";
import { WatchProjectsResponseSchema } from "../../ts/src/gen/fsa/v1/project_pb.js";
import { ProjectSchema, SandboxSchema } from "../../ts/src/gen/fsa/v1/resources_pb.js";

// A scripted ProjectService: each listProjects call takes the next listing,
// each watchProjects call the next script (events to send, then an optional
// error to fail with; without one the stream stays open until aborted).
type Script = { events: WatchProjectsResponse[]; fail?: ConnectError };

function fake(listings: { projects: Project[]; revision: bigint }[], scripts: Script[]) {
  const calls = { list: 0, watchFrom: [] as bigint[] };
  const transport = createRouterTransport(({ service }) => {
    service(ProjectService, {
      listProjects() {
        const l = listings[Math.min(calls.list, listings.length - 1)]!;
        calls.list++;
        return { projects: l.projects, revision: l.revision };
      },
      async *watchProjects(req, ctx) {
        calls.watchFrom.push(req.fromRevision);
        const s = scripts.shift();
        if (!s) {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          return;
        }
        for (const ev of s.events) yield ev;
        if (s.fail) throw s.fail;
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      },
    });
  });
  return { client: { projects: createClient(ProjectService, transport) }, calls };
}

const project = (id: string, status: Status, version: bigint) =>
  create(ProjectSchema, { id, name: id, status, version });

const put = (revision: bigint, p: Project) =>
  create(WatchProjectsResponseSchema, { revision, type: EventType.PUT, resource: { case: "project", value: p } });

const del = (revision: bigint, p: Project) =>
  create(WatchProjectsResponseSchema, { revision, type: EventType.DELETE, resource: { case: "project", value: p } });

const sandbox = (revision: bigint, projectId: string, status: Status, version: bigint) =>
  create(WatchProjectsResponseSchema, {
    revision,
    type: EventType.PUT,
    resource: { case: "sandbox", value: create(SandboxSchema, { id: `sb-${projectId}`, projectId, status, version }) },
  });

const progress = (revision: bigint) => create(WatchProjectsResponseSchema, { revision, type: EventType.PROGRESS });

// eventually polls cond until it holds, failing after a deadline.
async function eventually(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const statuses = (live: LiveProjects) => live.list().map((p) => `${p.id}:${Status[p.status]}:${p.sandbox ? Status[p.sandbox.status] : "-"}`);

test("lists, then follows the watch from the listing's revision", async () => {
  const { client, calls } = fake(
    [{ projects: [project("a", Status.RUNNING, 5n)], revision: 7n }],
    [{ events: [progress(7n), put(8n, project("b", Status.CREATING, 8n)), sandbox(9n, "b", Status.RUNNING, 9n), put(9n, project("b", Status.RUNNING, 9n)), del(10n, project("a", Status.TERMINATED, 10n))] }],
  );
  const live = new LiveProjects(client, () => assert.fail("unauthenticated"), { initialBackoffMs: 1 });
  live.start();
  try {
    await eventually(() => statuses(live).join() === "b:RUNNING:RUNNING", "b running, a gone");
    assert.deepEqual(calls.watchFrom, [7n]);
    assert.equal(live.state, "live");
  } finally {
    live.stop();
  }
});

test("a dropped stream resumes from the last revision, without listing again", async () => {
  const { client, calls } = fake(
    [{ projects: [], revision: 3n }],
    [
      { events: [put(4n, project("p", Status.CREATING, 4n))], fail: new ConnectError("connection reset", Code.Unavailable) },
      { events: [put(6n, project("p", Status.STARTING, 6n))], fail: new ConnectError("reset again", Code.Internal) },
      { events: [put(6n, project("p", Status.STARTING, 6n)), put(7n, project("p", Status.RUNNING, 7n))] },
    ],
  );
  const live = new LiveProjects(client, () => assert.fail("unauthenticated"), { initialBackoffMs: 1 });
  live.start();
  try {
    await eventually(() => statuses(live).join() === "p:RUNNING:-", "p running");
    assert.deepEqual(calls.watchFrom, [3n, 4n, 6n]);
    assert.equal(calls.list, 1, "no relisting after a dropped stream");
  } finally {
    live.stop();
  }
});

test("resync_required lists again and watches from the new listing", async () => {
  const { client, calls } = fake(
    [
      { projects: [project("old", Status.RUNNING, 2n)], revision: 2n },
      { projects: [project("new", Status.STOPPED, 40n)], revision: 42n },
    ],
    [{ events: [create(WatchProjectsResponseSchema, { revision: 42n, resyncRequired: true })] }],
  );
  const live = new LiveProjects(client, () => assert.fail("unauthenticated"), { initialBackoffMs: 1 });
  live.start();
  try {
    await eventually(() => calls.watchFrom.length === 2, "second watch");
    assert.deepEqual(statuses(live), ["new:STOPPED:-"]);
    assert.deepEqual(calls.watchFrom, [2n, 42n]);
    assert.equal(calls.list, 2);
  } finally {
    live.stop();
  }
});

test("older versions never overwrite newer ones; deleted projects stay deleted", async () => {
  const { client } = fake(
    [{ projects: [], revision: 1n }],
    [{ events: [sandbox(2n, "p", Status.STARTING, 2n), put(2n, project("p", Status.STARTING, 2n)), put(3n, project("q", Status.RUNNING, 3n)), del(4n, project("q", Status.TERMINATED, 4n))] }],
  );
  const live = new LiveProjects(client, () => assert.fail("unauthenticated"), { initialBackoffMs: 1 });
  live.start();
  try {
    await eventually(() => statuses(live).join() === "p:STARTING:STARTING", "p with its sandbox (sent before the project)");
    live.put(project("p", Status.CREATING, 1n)); // a late write response
    live.put(project("q", Status.TERMINATING, 3n)); // a late delete response
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(statuses(live), ["p:STARTING:STARTING"]);
    live.put(project("p", Status.STOPPING, 5n));
    await eventually(() => statuses(live).join() === "p:STOPPING:STARTING", "newer write response applied");
  } finally {
    live.stop();
  }
});

test("an expired session stops the watch and reports it", async () => {
  const { client, calls } = fake(
    [{ projects: [], revision: 1n }],
    [{ events: [], fail: new ConnectError("session expired", Code.Unauthenticated) }],
  );
  let expired = 0;
  const live = new LiveProjects(client, () => expired++, { initialBackoffMs: 1 });
  live.start();
  try {
    await eventually(() => expired === 1, "onUnauthenticated");
    assert.deepEqual(calls.watchFrom, [1n]);
  } finally {
    live.stop();
  }
});
