import assert from "node:assert/strict";
import { test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import { formatMode, formatSize, formatTime, joinPath, parentPath, uploadErrorText } from "../src/files.js";

test("joinPath", () => {
  assert.equal(joinPath(".", "a.txt"), "a.txt");
  assert.equal(joinPath("", "a.txt"), "a.txt");
  assert.equal(joinPath("src", "a.txt"), "src/a.txt");
  assert.equal(joinPath("/", "etc"), "/etc");
  assert.equal(joinPath("/etc/", "hosts"), "/etc/hosts");
  assert.equal(joinPath("..", "x"), "../x");
});

test("parentPath walks up relative and absolute paths", () => {
  const want: [string, string][] = [
    ["src/app", "src"],
    ["src", "."],
    [".", ".."],
    ["", ".."],
    ["..", "../.."],
    ["../..", "../../.."],
    ["/", "/"],
    ["/etc", "/"],
    ["/etc/ssl/", "/etc"],
    ["/a/b/c", "/a/b"],
    ["../x", ".."],
  ];
  for (const [dir, parent] of want) assert.equal(parentPath(dir), parent, `parent of ${dir}`);
});

test("formatMode renders like ls", () => {
  assert.equal(formatMode(0o755, true, false), "drwxr-xr-x");
  assert.equal(formatMode(0o644, false, false), "-rw-r--r--");
  assert.equal(formatMode(0o777, false, true), "lrwxrwxrwx");
  assert.equal(formatMode(0o600, false, false), "-rw-------");
  assert.equal(formatMode(0o4755, false, false), "-rwxr-xr-x", "bits above the permissions are not shown");
});

test("formatSize", () => {
  assert.equal(formatSize(0), "0 B");
  assert.equal(formatSize(1023), "1023 B");
  assert.equal(formatSize(1024), "1.0 KiB");
  assert.equal(formatSize(1536n), "1.5 KiB");
  assert.equal(formatSize(100 * 1024), "100 KiB");
  assert.equal(formatSize(3 * 1024 * 1024 + 1), "3.0 MiB");
  assert.equal(formatSize(5 * 1024 ** 4), "5.0 TiB");
});

test("formatTime is UTC to the second", () => {
  assert.equal(formatTime(undefined), "—");
  assert.equal(formatTime({ seconds: 1_700_000_000n, nanos: 5 } as never), "2023-11-14 22:13:20Z");
});

test("uploadErrorText explains the size limit", () => {
  const big = new ConnectError("message size 2097152 is larger than configured max 1048576", Code.ResourceExhausted);
  const t = uploadErrorText("big.bin", 2 * 1024 * 1024, big);
  assert.match(t, /^upload big\.bin: 2\.0 MiB is more than the server takes in one request/);
  assert.match(t, /fsactl cp/);
  assert.match(t, /larger than configured max 1048576/);
  const other = uploadErrorText("a.txt", 3, new ConnectError("no such directory", Code.NotFound));
  assert.equal(other, "upload a.txt: NotFound: no such directory");
});
