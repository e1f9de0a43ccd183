import assert from "node:assert/strict";
import { test } from "node:test";

import { Provider } from "../src/api.js";
import { canUnlink, githubAuthorizeUrl, githubCallback, providerLabel } from "../src/identities.js";

test("the last sign-in method cannot be removed", () => {
  const one = [{ provider: Provider.PASSWORD }] as never[];
  const two = [{ provider: Provider.PASSWORD }, { provider: Provider.GITHUB }] as never[];
  assert.equal(canUnlink(one), false);
  assert.equal(canUnlink(two), true);
  assert.equal(canUnlink([]), false);
});

test("GitHub authorize URL carries the client id, redirect and state", () => {
  const u = new URL(githubAuthorizeUrl("https://github.com/login/oauth/authorize", "cid", "https://fsa.test/ui/settings", "st4te"));
  assert.equal(u.origin + u.pathname, "https://github.com/login/oauth/authorize");
  assert.equal(u.searchParams.get("client_id"), "cid");
  assert.equal(u.searchParams.get("redirect_uri"), "https://fsa.test/ui/settings");
  assert.equal(u.searchParams.get("state"), "st4te");
});

test("a GitHub callback links only with the state this tab sent", () => {
  assert.equal(githubCallback("", "s"), undefined);
  assert.equal(githubCallback("?code=c", "s"), undefined, "no state: not a callback");
  assert.deepEqual(githubCallback("?code=c&state=s", "s"), { code: "c", state: "s", ok: true });
  assert.equal(githubCallback("?code=c&state=x", "s")?.ok, false, "forged state");
  assert.equal(githubCallback("?code=c&state=s", null)?.ok, false, "no request sent from this tab");
  assert.equal(githubCallback("?code=c&state=", "")?.ok, false);
});

test("provider labels", () => {
  assert.equal(providerLabel(Provider.GITHUB), "GitHub");
  assert.equal(providerLabel(Provider.PASSWORD), "Password");
  assert.equal(providerLabel(Provider.UNSPECIFIED), "Unknown");
});
