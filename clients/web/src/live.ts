// LiveProjects keeps a complete copy of the caller's projects, their sandboxes
// and databases: it lists them once, then follows WatchProjects from the
// listing's revision. A dropped stream is resumed from the last revision
// received (with backoff); resync_required lists again. It never polls.

import { Code, ConnectError } from "@connectrpc/connect";
import {
  EventType,
  type Database,
  type FsaClient,
  type Project,
  type Sandbox,
  type WatchProjectsResponse,
} from "./api.js";

export type LinkState = "connecting" | "live" | "reconnecting";

export class LiveProjects {
  private projects = new Map<string, Project>();
  // Children whose project event has not arrived yet (they share a revision).
  private orphanSandboxes = new Map<string, Sandbox>();
  private orphanDatabases = new Map<string, Database>();
  // Deleted projects and the revision of their deletion, so that a late
  // write response cannot bring one back.
  private deleted = new Map<string, bigint>();
  private revision = 0n;
  private abort = new AbortController();
  private listeners = new Set<() => void>();
  private notifyQueued = false;
  state: LinkState = "connecting";
  lastError = "";
  /** loaded is true once the first listing arrived. */
  loaded = false;

  private readonly initialBackoff: number;

  /**
   * client is the API; onUnauthenticated runs (once, and the watch stops)
   * when the session is no longer valid. After a failure the watch waits
   * initialBackoffMs (default 250), doubling up to 10 s, before resuming.
   */
  constructor(
    private readonly client: Pick<FsaClient, "projects">,
    private readonly onUnauthenticated: () => void,
    options: { initialBackoffMs?: number } = {},
  ) {
    this.initialBackoff = options.initialBackoffMs ?? 250;
  }

  /** start begins listing and watching; stop ends it for good. */
  start(): void {
    void this.run(this.abort.signal);
  }

  stop(): void {
    this.abort.abort();
    this.listeners.clear();
  }

  /** subscribe calls fn after changes; it returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** list returns the projects, oldest first. */
  list(): Project[] {
    return [...this.projects.values()].sort((a, b) => {
      const ta = a.createdAt ? Number(a.createdAt.seconds) * 1e3 + a.createdAt.nanos / 1e6 : 0;
      const tb = b.createdAt ? Number(b.createdAt.seconds) * 1e3 + b.createdAt.nanos / 1e6 : 0;
      return ta - tb || a.id.localeCompare(b.id);
    });
  }

  get(id: string): Project | undefined {
    return this.projects.get(id);
  }

  /** put merges a project returned by a write RPC (newer versions win). */
  put(p: Project | undefined): void {
    if (!p) return;
    this.putProject(p);
    if (p.sandbox) this.putSandbox(p.sandbox);
    if (p.database) this.putDatabase(p.database);
    this.notify();
  }

  private async run(signal: AbortSignal): Promise<void> {
    let relist = true;
    let backoff = this.initialBackoff;
    while (!signal.aborted) {
      try {
        if (relist) {
          await this.relist(signal);
          relist = false;
        }
        const stream = this.client.projects.watchProjects({ fromRevision: this.revision }, { signal });
        for await (const ev of stream) {
          backoff = this.initialBackoff;
          this.setState("live", "");
          if (ev.resyncRequired) {
            relist = true;
            break;
          }
          this.apply(ev);
        }
        // The server ended the stream (resync, or it is shutting down): go on
        // from where we are, without waiting when a resync was asked for.
        if (relist) continue;
      } catch (err) {
        if (signal.aborted) return;
        const e = ConnectError.from(err);
        if (e.code === Code.Unauthenticated) {
          this.onUnauthenticated();
          return;
        }
        this.setState("reconnecting", e.rawMessage || e.message);
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, Project>();
    let pageToken = "";
    let revision = 0n;
    do {
      const res = await this.client.projects.listProjects({ pageSize: 1000, pageToken }, { signal });
      if (revision === 0n) revision = res.revision;
      for (const p of res.projects) fresh.set(p.id, p);
      pageToken = res.nextPageToken;
    } while (pageToken);
    this.projects = fresh;
    this.orphanSandboxes.clear();
    this.orphanDatabases.clear();
    this.deleted.clear();
    this.revision = revision;
    this.loaded = true;
    this.notify();
  }

  private apply(ev: WatchProjectsResponse): void {
    if (ev.revision > this.revision) this.revision = ev.revision;
    const del = ev.type === EventType.DELETE;
    switch (ev.resource.case) {
      case "project": {
        const p = ev.resource.value;
        if (del) {
          this.projects.delete(p.id);
          this.deleted.set(p.id, ev.revision);
          this.orphanSandboxes.delete(p.id);
          this.orphanDatabases.delete(p.id);
        } else {
          this.putProject(p);
        }
        break;
      }
      case "sandbox":
        if (!del) this.putSandbox(ev.resource.value);
        break;
      case "database":
        if (!del) this.putDatabase(ev.resource.value);
        break;
    }
    this.notify();
  }

  private putProject(p: Project): void {
    const old = this.projects.get(p.id);
    if (old && old.version > p.version) return;
    const gone = this.deleted.get(p.id);
    if (gone !== undefined && gone >= p.version) return;
    const sandbox = newer(old?.sandbox, p.sandbox) ?? this.orphanSandboxes.get(p.id);
    const database = newer(old?.database, p.database) ?? this.orphanDatabases.get(p.id);
    this.orphanSandboxes.delete(p.id);
    this.orphanDatabases.delete(p.id);
    this.projects.set(p.id, { ...p, sandbox, database });
  }

  private putSandbox(s: Sandbox): void {
    const p = this.projects.get(s.projectId);
    if (!p) {
      this.orphanSandboxes.set(s.projectId, newer(this.orphanSandboxes.get(s.projectId), s)!);
      return;
    }
    this.projects.set(p.id, { ...p, sandbox: newer(p.sandbox, s) });
  }

  private putDatabase(d: Database): void {
    const p = this.projects.get(d.projectId);
    if (!p) {
      this.orphanDatabases.set(d.projectId, newer(this.orphanDatabases.get(d.projectId), d)!);
      return;
    }
    this.projects.set(p.id, { ...p, database: newer(p.database, d) });
  }

  private setState(state: LinkState, err: string): void {
    if (this.state === state && this.lastError === err) return;
    this.state = state;
    this.lastError = err;
    this.notify();
  }

  // notify runs the listeners once per microtask, so the events of one
  // revision render together.
  private notify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const fn of this.listeners) fn();
    });
  }
}

/** newer returns whichever of a and b has the higher version (b on a tie). */
function newer<T extends { version: bigint }>(a: T | undefined, b: T | undefined): T | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.version >= a.version ? b : a;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
