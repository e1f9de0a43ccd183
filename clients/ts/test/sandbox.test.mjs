// Tests of exec, readFile, writeFile and streamLogs against a real fsad whose
// project is RUNNING on the local control plane. The Go end-to-end test
// clients/cmd/fsactl (TestSandboxCommands) starts both and runs this file with
// FSA_SANDBOX_URL, FSA_SANDBOX_TOKEN and FSA_SANDBOX_PROJECT set; without them
// it is skipped.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import { createFsaClient, exec, readFile, streamLogs, writeFile } from "../dist/index.js";

const url = process.env.FSA_SANDBOX_URL;
const token = process.env.FSA_SANDBOX_TOKEN;
const projectId = process.env.FSA_SANDBOX_PROJECT;
const skip = !url || !token || !projectId ? "needs FSA_SANDBOX_URL, FSA_SANDBOX_TOKEN and FSA_SANDBOX_PROJECT" : false;

describe("sandbox", { skip }, () => {
  const fsa = createFsaClient({ baseUrl: url ?? "http://unused", token });
  const text = (b) => new TextDecoder().decode(b);

  test("exec returns output and exit code", async () => {
    const res = await exec(fsa, projectId, ["sh", "-c", 'echo "$WHO"; cat; echo oops >&2; exit 4'], {
      env: { WHO: "ts client" },
      stdin: "from stdin\n",
    });
    assert.equal(res.exitCode, 4);
    assert.equal(text(res.stdout), "ts client\nfrom stdin\n");
    assert.equal(text(res.stderr), "oops\n");
  });

  test("writeFile then readFile", async () => {
    const content = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    await writeFile(fsa, projectId, "ts-written.bin", content, { mode: 0o600 });
    const back = await readFile(fsa, projectId, "ts-written.bin");
    assert.deepEqual(back, content);
    const mode = await exec(fsa, projectId, ["stat", "-c", "%a", "ts-written.bin"]);
    assert.equal(text(mode.stdout).trim(), "600");
  });

  test("readFile of a missing file is NotFound", async () => {
    await assert.rejects(readFile(fsa, projectId, "no/such/file"), (err) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.NotFound);
      return true;
    });
  });

  test("streamLogs", async () => {
    let all = "";
    for await (const chunk of streamLogs(fsa, projectId, { tailLines: 50 })) all += chunk;
    assert.match(all, /container \S+ started\n/);
  });
});
