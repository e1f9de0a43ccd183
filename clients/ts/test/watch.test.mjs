// Unit tests of watchProjects against a scripted Connect stream (no server).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Code } from "@connectrpc/connect";

import { createFsaClient, ResyncRequiredError, watchProjects } from "../dist/index.js";

// envelope frames one Connect streaming message (flags 0) or the end of the stream (flags 2).
function envelope(obj, flags = 0) {
  const data = new TextEncoder().encode(JSON.stringify(obj));
  const out = new Uint8Array(5 + data.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.length);
  out.set(data, 5);
  return out;
}

const put = (rev, kind, id) => ({ revision: String(rev), type: "EVENT_TYPE_PUT", [kind]: { id } });
const progress = (rev) => ({ revision: String(rev), type: "EVENT_TYPE_PROGRESS" });

// scripted returns a fetch that answers the n-th WatchProjects call with scripts[n]: the
// messages, then an Unavailable error (or `end` to end the stream normally).
function scripted(scripts) {
  const froms = [];
  const fetch = async (_url, init) => {
    const body = JSON.parse(new TextDecoder().decode(init.body.slice(5)));
    froms.push(BigInt(body.fromRevision ?? 0));
    const script = scripts[froms.length - 1];
    if (!script) return new Promise(() => {}); // never answers; the test aborts
    const frames = script.msgs.map((m) => envelope(m));
    frames.push(envelope(script.end ? {} : { error: { code: "unavailable", message: "node going away" } }, 2));
    const stream = new ReadableStream({
      start(c) {
        for (const f of frames) c.enqueue(f);
        c.close();
      },
    });
    return new Response(stream, { status: 200, headers: { "Content-Type": "application/connect+json" } });
  };
  return { fetch, froms };
}

const name = (ev) => `${ev.revision} ${ev.resource.case ?? "progress"} ${ev.resource.value?.id ?? ""}`.trim();

test("a break inside one change's events neither loses nor repeats any", async () => {
  const { fetch, froms } = scripted([
    { msgs: [progress(3), put(4, "project", "p1"), put(5, "project", "p1"), put(5, "sandbox", "s1")] },
    { msgs: [put(5, "project", "p1"), put(5, "sandbox", "s1"), put(5, "database", "d1"), put(6, "project", "p1"), progress(6)] },
    { msgs: [progress(6), put(7, "project", "p2")], end: true },
    { msgs: [{ revision: "9", resyncRequired: true }] },
  ]);
  const fsa = createFsaClient({ baseUrl: "http://127.0.0.1:1", token: "t", fetch });
  const got = [];
  await assert.rejects(
    watchProjects(fsa, { fromRevision: 2n, initialBackoffMs: 1, onEvent: (ev) => got.push(name(ev)) }),
    (err) => err instanceof ResyncRequiredError && err.revision === 9n,
  );
  assert.deepEqual(got, ["3 progress", "4 project p1", "5 project p1", "5 sandbox s1", "5 database d1", "6 project p1", "6 progress", "7 project p2"]);
  assert.deepEqual(froms, [2n, 4n, 6n, 6n]);
});

test("onResync returning a revision goes on from it at once", async () => {
  const { fetch, froms } = scripted([
    { msgs: [put(3, "project", "p1"), { revision: "40", resyncRequired: true }] },
    { msgs: [put(41, "project", "p1")] },
  ]);
  const fsa = createFsaClient({ baseUrl: "http://127.0.0.1:1", fetch });
  const got = [];
  const stop = new AbortController();
  await watchProjects(fsa, {
    signal: stop.signal,
    initialBackoffMs: 1,
    onResync: (rev) => rev, // as if a fresh listing was read at the server's revision
    onEvent: (ev) => {
      got.push(name(ev));
      if (ev.revision === 41n) stop.abort();
    },
  });
  assert.deepEqual(got, ["3 project p1", "41 project p1"]);
  assert.deepEqual(froms, [0n, 40n]);
});

test("gives up after maxAttempts failed connections in a row", async () => {
  let calls = 0;
  const fetch = async () => {
    calls++;
    throw new TypeError("fetch failed");
  };
  const fsa = createFsaClient({ baseUrl: "http://127.0.0.1:1", fetch });
  const retries = [];
  await assert.rejects(
    watchProjects(fsa, { maxAttempts: 4, initialBackoffMs: 1, onEvent: () => {}, onRetry: (e, n) => retries.push([e.code, n]) }),
    { code: Code.Unknown, message: "[unknown] fetch failed" }, // how connect reports a failed fetch
  );
  assert.equal(calls, 4);
  assert.deepEqual(retries, [[Code.Unknown, 1], [Code.Unknown, 2], [Code.Unknown, 3]]);
});
