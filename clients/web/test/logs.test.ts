import assert from "node:assert/strict";
import { test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import { appendLog, errorText, parseTail } from "../src/logs.js";

test("appendLog keeps everything under the bound", () => {
  assert.equal(appendLog("a\n", "b\n", 10), "a\nb\n");
  assert.equal(appendLog("", "", 10), "");
});

test("appendLog drops whole lines from the start past the bound", () => {
  // 12 characters, bound 8: the first line goes, the rest fits.
  assert.equal(appendLog("one\ntwo\n", "six\n", 8), "two\nsix\n");
  assert.equal(appendLog("one\ntwo\nsix\n", "ten\n", 8), "six\nten\n");
  // The cut falls exactly on a line start: nothing more is dropped.
  assert.equal(appendLog("aaaa\n", "bbb\n", 4), "bbb\n");
  for (let i = 0, s = ""; i < 200; i++) {
    s = appendLog(s, `line ${i}\n`, 50);
    assert.ok(s.length <= 50, `length ${s.length} after line ${i}`);
    assert.ok(s.endsWith(`line ${i}\n`));
    assert.ok(i < 5 || s.startsWith("line "), `starts on a line: ${JSON.stringify(s.slice(0, 10))}`);
  }
});

test("appendLog cuts a line longer than the bound", () => {
  assert.equal(appendLog("", "x".repeat(20), 8), "x".repeat(8));
  assert.equal(appendLog("ab\n", "cdefghijklmn", 8), "ghijklmn");
});

test("parseTail accepts whole numbers only", () => {
  assert.equal(parseTail("200"), 200);
  assert.equal(parseTail(" 0 "), 0);
  for (const bad of ["", "-1", "1.5", "ten", "1e3", "99999999"]) assert.equal(parseTail(bad), undefined, bad);
});

test("errorText names the code", () => {
  const err = new ConnectError("the sandbox of project p is STOPPED", Code.FailedPrecondition);
  assert.equal(errorText(err), "FailedPrecondition: the sandbox of project p is STOPPED");
  assert.match(errorText(new Error("boom")), /^Unknown: boom$/);
});
