// Using a project's running sandbox from TypeScript: run a command, read and
// write a file, stream the log. Everything here works over HTTP/1.1 from a
// browser (server streaming and unary RPCs only); interactive exec and large
// uploads are the bidirectional and client-streaming RPCs of SandboxService,
// which need an HTTP/2 transport (the Go client and fsactl use them).

import type { FsaClient } from "./client.js";

/** Options of exec. */
export interface ExecOptions {
  /** Extra environment variables (never logged by fsad). */
  env?: Record<string, string>;
  /** Working directory; default the sandbox's home. */
  dir?: string;
  /** Standard input, sent whole with the request. */
  stdin?: Uint8Array | string;
  /** Kill the command after this many seconds (0: no limit). */
  timeoutSeconds?: number;
  /** Called with each chunk of output as it arrives. */
  onStdout?: (chunk: Uint8Array) => void;
  onStderr?: (chunk: Uint8Array) => void;
  /** Aborting kills the command. */
  signal?: AbortSignal;
}

/** How a command ended, with all its output. */
export interface ExecResult {
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

const encoder = new TextEncoder();

/**
 * exec runs a command (argv, never parsed by a shell) in the project's
 * sandbox and resolves with its exit code and output; a non-zero exit code is
 * not an error.
 */
export async function exec(fsa: FsaClient, projectId: string, command: string[], options: ExecOptions = {}): Promise<ExecResult> {
  const stdin = typeof options.stdin === "string" ? encoder.encode(options.stdin) : options.stdin;
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const stream = fsa.sandbox.exec(
    { projectId, command, env: options.env ?? {}, dir: options.dir ?? "", stdin: stdin ?? new Uint8Array(), timeoutSeconds: options.timeoutSeconds ?? 0 },
    { signal: options.signal },
  );
  for await (const msg of stream) {
    switch (msg.event.case) {
      case "stdout":
        out.push(msg.event.value);
        options.onStdout?.(msg.event.value);
        break;
      case "stderr":
        err.push(msg.event.value);
        options.onStderr?.(msg.event.value);
        break;
      case "exitCode":
        return { exitCode: msg.event.value, stdout: concat(out), stderr: concat(err) };
    }
  }
  throw new Error("fsa: the exec stream ended without an exit code");
}

/** readFile resolves with the content of a regular file of the sandbox. */
export async function readFile(fsa: FsaClient, projectId: string, path: string, options: { limitBytes?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const msg of fsa.sandbox.readFile({ projectId, path, limitBytes: BigInt(options.limitBytes ?? 0) }, { signal: options.signal })) {
    if (msg.data.length > 0) chunks.push(msg.data);
  }
  return concat(chunks);
}

/**
 * writeFile writes a file of the sandbox, replacing it (PutFile: the content
 * travels in one message, up to fsad's message limit, 1 MiB by default).
 */
export async function writeFile(fsa: FsaClient, projectId: string, path: string, content: Uint8Array | string, options: { mode?: number; signal?: AbortSignal } = {}): Promise<void> {
  const data = typeof content === "string" ? encoder.encode(content) : content;
  await fsa.sandbox.putFile({ projectId, path, content: data, mode: options.mode ?? 0 }, { signal: options.signal });
}

/** Options of streamLogs. */
export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  signal?: AbortSignal;
}

/**
 * streamLogs yields the sandbox's log in chunks of text (a line may span
 * chunks); with follow, until the signal aborts.
 */
export async function* streamLogs(fsa: FsaClient, projectId: string, options: LogOptions = {}): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const stream = fsa.sandbox.streamLogs(
    { projectId, follow: options.follow ?? false, tailLines: BigInt(options.tailLines ?? 0), timestamps: options.timestamps ?? false },
    { signal: options.signal },
  );
  for await (const msg of stream) {
    const text = decoder.decode(msg.data, { stream: true });
    if (text) yield text;
  }
}
