import assert from "node:assert/strict";
import { test } from "node:test";

import { LifecycleAction } from "../src/api.js";
import { defaultSource, durationInput, keepAliveWhileVisible, keepRunningAction, nextActionText, policyText, shortDuration } from "../src/lifecycle.js";

const now = Date.UTC(2026, 11, 1, 9, 0, 0);
const at = (ms: number) => ({ seconds: BigInt(Math.floor((now + ms) / 1000)), nanos: 0 });

test("next action text", () => {
  assert.equal(nextActionText(undefined, now), "");
  const idle = { nextAction: LifecycleAction.STOP, nextActionAt: at(12 * 60_000), nextActionReason: "IdleTimeout" };
  assert.equal(nextActionText(idle as never, now), "stops in 12m (idle)");
  const del = { nextAction: LifecycleAction.DELETE, nextActionAt: at(50 * 3_600_000), nextActionReason: "StoppedTooLong" };
  assert.equal(nextActionText(del as never, now), "deleted in 2d2h (stopped too long)");
  const past = { nextAction: LifecycleAction.STOP, nextActionAt: at(-1000), nextActionReason: "Expired" };
  assert.equal(nextActionText(past as never, now), "stops now (expiry)");
  assert.equal(keepRunningAction(idle as never), "keepalive");
  assert.equal(keepRunningAction(past as never), "extend");
  assert.equal(keepRunningAction(del as never), "");
  assert.equal(shortDuration(45_000), "45s");
  assert.equal(shortDuration(90 * 60_000), "1h30m");
});

test("keep-alive only while visible", () => {
  let sent = 0;
  const listeners: (() => void)[] = [];
  const doc = {
    visibilityState: "hidden" as DocumentVisibilityState,
    addEventListener: (_: string, fn: () => void) => listeners.push(fn),
    removeEventListener: () => {},
  };
  const stop = keepAliveWhileVisible(() => sent++, doc as never);
  assert.equal(sent, 0, "hidden: nothing sent");
  doc.visibilityState = "visible";
  listeners.forEach((fn) => fn());
  assert.equal(sent, 1, "sent when the tab becomes visible");
  stop();
});

test("default policies: shown for people, written back as the server reads them", () => {
  const d = (s: number) => ({ seconds: BigInt(s), nanos: 0 });
  assert.equal(policyText(undefined), "never");
  assert.equal(policyText(d(0)), "never");
  assert.equal(policyText(d(30 * 60)), "30m");
  assert.equal(policyText(d(72 * 3600)), "3d");
  assert.equal(durationInput(undefined), "0");
  assert.equal(durationInput(d(30 * 60)), "30m");
  assert.equal(durationInput(d(90 * 60)), "1h30m");
  assert.equal(durationInput(d(72 * 3600)), "72h", "Go durations have no days");
  assert.equal(durationInput(d(3600 + 5)), "1h5s");
  assert.equal(defaultSource(true), "your setting");
  assert.equal(defaultSource(false), "server default");
});
