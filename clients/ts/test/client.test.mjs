// Tests of the built package (dist/): run `npm run build` first (`npm test` does).
import assert from "node:assert/strict";
import { test } from "node:test";

import { createClient, Role, Status } from "../dist/index.js";

// fakeFetch records each request and answers with the given JSON body.
function fakeFetch(body) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url: String(url), method: init.method, headers: new Headers(init.headers), body: init.body });
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { fetch, calls };
}

test("unary call sends the bearer token and decodes JSON", async () => {
  const { fetch, calls } = fakeFetch({
    user: { id: "u1", name: "ada", email: "ada@example.com", role: "ROLE_ADMIN" },
  });
  const fsa = createClient("http://127.0.0.1:1/api", () => "tok-1", { fetch });

  const res = await fsa.auth.whoAmI({});

  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "http://127.0.0.1:1/api/fsa.v1.AuthService/WhoAmI");
  assert.equal(calls[0].headers.get("authorization"), "Bearer tok-1");
  assert.equal(res.user?.name, "ada");
  assert.equal(res.user?.role, Role.ADMIN);
});

test("no token means no Authorization header", async () => {
  const { fetch, calls } = fakeFetch({ session: { token: "t" } });
  const fsa = createClient("http://127.0.0.1:1", undefined, { fetch });

  const res = await fsa.auth.login({ username: "ada", password: "secret-pw" });

  assert.equal(calls[0].headers.get("authorization"), null);
  assert.equal(res.session?.token, "t");
});

test("64-bit versions and enums round-trip", async () => {
  const { fetch, calls } = fakeFetch({
    project: { id: "p1", name: "demo", status: "STATUS_RUNNING", version: "18446744073709551615" },
  });
  const fsa = createClient("http://127.0.0.1:1", async () => "tok-2", { fetch });

  const res = await fsa.projects.createProject({ name: "demo", idempotencyKey: "k1" });

  assert.deepEqual(JSON.parse(new TextDecoder().decode(calls[0].body)), { name: "demo", idempotencyKey: "k1" });
  assert.equal(res.project?.status, Status.RUNNING);
  assert.equal(res.project?.version, 18446744073709551615n);
});

test("useHttpGet sends side-effect-free RPCs as GET", async () => {
  const { fetch, calls } = fakeFetch({ projects: [], revision: "5" });
  const fsa = createClient("http://127.0.0.1:1", () => "tok-3", { fetch, useHttpGet: true });

  const res = await fsa.projects.listProjects({ pageSize: 10 });
  await fsa.projects.startProject({ id: "p1" }).catch(() => undefined);

  assert.equal(calls[0].method, "GET");
  assert.match(calls[0].url, /^http:\/\/127\.0\.0\.1:1\/fsa\.v1\.ProjectService\/ListProjects\?/);
  assert.equal(res.revision, 5n);
  assert.equal(calls[1].method, "POST");
});
