// watchProjects: a WatchProjects stream that survives disconnects.

import { Code, ConnectError } from "@connectrpc/connect";

import { EventType, type WatchProjectsResponse } from "./gen/fsa/v1/project_pb.js";
import type { FsaClient } from "./client.js";

/**
 * ResyncRequiredError ends a watch whose revision the server no longer holds
 * (history compacted, or the client read too slowly): list again
 * (ListProjects) and watch from the listing's revision.
 */
export class ResyncRequiredError extends Error {
  /** The server's current revision when it gave up. */
  readonly revision: bigint;
  constructor(revision: bigint) {
    super(`fsa: watch must resync (server at revision ${revision}): list again`);
    this.name = "ResyncRequiredError";
    this.revision = revision;
  }
}

/** Options of watchProjects. */
export interface WatchOptions {
  /**
   * The revision already seen (for example ListProjectsResponse.revision);
   * changes after it are replayed first. 0n (the default) starts from now.
   */
  fromRevision?: bigint;
  /** Aborting it ends the watch: the promise resolves. */
  signal?: AbortSignal;
  /**
   * Called with every PUT and DELETE event, in revision order and exactly
   * once each even across reconnections, and with each PROGRESS message that
   * advances the revision. The watch waits for a returned promise.
   */
  onEvent: (event: WatchProjectsResponse) => void | Promise<void>;
  /**
   * Called when the server requires a resync. Return the revision to watch
   * from after listing again (ListProjectsResponse.revision) to go on, or
   * nothing to end the watch. Without onResync the watch rejects with
   * ResyncRequiredError.
   */
  onResync?: (revision: bigint) => bigint | undefined | void | Promise<bigint | undefined | void>;
  /** Called before each reconnection, after a failure (for logs and tests). */
  onRetry?: (error: ConnectError, attempt: number, delayMs: number) => void;
  /** First pause before reconnecting (default 100 ms); doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  /** Longest pause between reconnections (default 5000 ms). */
  maxBackoffMs?: number;
  /**
   * Consecutive failed connections before the watch rejects with the last
   * error (default 10). A connection that delivered a message resets the count.
   */
  maxAttempts?: number;
}

/** Codes after which reconnecting cannot help. */
const permanent = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.Unimplemented,
  Code.OutOfRange,
]);

/** Wraps an error thrown by a callback, so that it is not taken for a stream failure. */
class CallbackFailure {
  constructor(readonly error: unknown) {}
}

async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new CallbackFailure(err);
  }
}

function resourceKey(ev: WatchProjectsResponse): string {
  const r = ev.resource;
  return r.case === undefined ? String(ev.kind) : `${r.case}/${r.value.id}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * watchProjects follows ProjectService.WatchProjects and reconnects, with
 * exponential backoff and jitter, whenever the stream breaks (network error,
 * node restart, the stream ending without a resync). It resumes from the last
 * revision it saw completely; events of one change (they share a revision)
 * that were delivered before the break are not delivered again, so onEvent
 * sees every change exactly once. (With fromRevision 0n, changes made before
 * the first message arrives and a break happens could be missed.)
 *
 * The promise resolves when signal aborts or onResync declines to go on, and
 * rejects with ResyncRequiredError (no onResync), a ConnectError that retrying
 * cannot fix (Unauthenticated, PermissionDenied, ...), the last error after
 * maxAttempts failed connections in a row, or onEvent's error.
 */
export async function watchProjects(client: FsaClient, options: WatchOptions): Promise<void> {
  const { signal, onEvent } = options;
  const initial = options.initialBackoffMs ?? 100;
  const max = options.maxBackoffMs ?? 5000;
  const maxAttempts = options.maxAttempts ?? 10;

  let done = options.fromRevision ?? 0n; // every change up to done was delivered
  let cur = 0n; // revision of the events being received (> done when non-zero)
  let seen = new Set<string>(); // resources delivered at cur
  const complete = (r: bigint) => {
    if (r > done) done = r;
    if (cur <= done) {
      cur = 0n;
      seen = new Set();
    }
  };

  let failures = 0;
  for (;;) {
    if (signal?.aborted) return;
    let received = false;
    let resync = false;
    let failure: ConnectError | undefined;
    try {
      for await (const ev of client.projects.watchProjects({ fromRevision: done }, { signal })) {
        received = true;
        if (ev.resyncRequired) {
          if (!options.onResync) throw new ResyncRequiredError(ev.revision);
          const onResync = options.onResync;
          const next = await call(() => onResync(ev.revision));
          if (next === undefined || next === null) return;
          done = next;
          cur = 0n;
          seen = new Set();
          resync = true;
          break;
        }
        const r = ev.revision;
        if (ev.type === EventType.PROGRESS) {
          if (r <= done) continue;
          complete(r);
          await call(() => onEvent(ev));
          continue;
        }
        if (ev.type !== EventType.PUT && ev.type !== EventType.DELETE) continue;
        if (r <= done || r < cur) continue; // replayed after a reconnection
        if (r > cur) {
          if (cur !== 0n) complete(cur); // a later change arrived: cur is complete
          cur = r;
        }
        const key = resourceKey(ev);
        if (seen.has(key)) continue;
        seen.add(key);
        await call(() => onEvent(ev));
      }
    } catch (err) {
      if (err instanceof CallbackFailure) throw err.error;
      if (err instanceof ResyncRequiredError) throw err;
      if (signal?.aborted) return;
      const ce = ConnectError.from(err);
      if (permanent.has(ce.code)) throw ce;
      failure = ce;
    }
    if (signal?.aborted) return;
    if (resync) {
      failures = 0;
      continue; // watch again at once from the caller's new revision
    }
    if (received) failures = 0;
    failures++;
    const error = failure ?? new ConnectError("watch stream ended", Code.Unavailable);
    if (failures >= maxAttempts) throw error;
    const base = Math.min(max, initial * 2 ** (failures - 1));
    const delay = base / 2 + Math.random() * (base / 2);
    options.onRetry?.(error, failures, delay);
    await sleep(delay, signal);
  }
}
