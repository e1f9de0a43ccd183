import assert from "node:assert/strict";
import { test } from "node:test";

import { allowedActions, statusName } from "../src/actions.js";
import { Status } from "../src/api.js";

test("allowed actions follow the lifecycle table", () => {
  const want: [Status, string[]][] = [
    [Status.UNSPECIFIED, []],
    [Status.CREATING, ["delete"]],
    [Status.STARTING, ["stop", "delete"]],
    [Status.RUNNING, ["stop", "delete"]],
    [Status.STOPPING, ["start", "delete"]],
    [Status.STOPPED, ["start", "delete"]],
    [Status.TERMINATING, []],
    [Status.TERMINATED, []],
    [Status.ERROR, ["start", "stop", "delete"]],
    [Status.PARTIAL, ["start", "stop", "delete"]],
  ];
  for (const [s, actions] of want) {
    assert.deepEqual([...allowedActions(s)].sort(), [...actions].sort(), `status ${statusName(s)}`);
  }
  assert.deepEqual(allowedActions(99 as Status), [], "unknown statuses allow nothing");
});

test("status names", () => {
  assert.equal(statusName(Status.RUNNING), "RUNNING");
  assert.equal(statusName(Status.UNSPECIFIED), "UNKNOWN");
  assert.equal(statusName(undefined), "UNKNOWN");
});
