// Lifecycle policies in the console: the time to the next idle stop, expiry
// or auto-delete, a "Keep running" control, and the keep-alive the console
// sends while a terminal tab is visible.

import { LifecycleAction, type ProjectLifecycle } from "./api.js";

/** KEEPALIVE_MS is how often the console sends KeepAlive while a terminal is open and visible. */
export const KEEPALIVE_MS = 30_000;

/** shortDuration is ms rounded for people: 45s, 12m, 3h5m, 2d4h. */
export function shortDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.floor(ms / 3_600_000);
  if (h < 48) {
    const mm = Math.floor((ms % 3_600_000) / 60_000);
    return mm === 0 ? `${h}h` : `${h}h${mm}m`;
  }
  const d = Math.floor(ms / 86_400_000);
  const hh = Math.floor((ms % 86_400_000) / 3_600_000);
  return hh === 0 ? `${d}d` : `${d}d${hh}h`;
}

const why: Record<string, string> = { IdleTimeout: "idle", Expired: "expiry", StoppedTooLong: "stopped too long" };

/** nextActionText says what the policies do next: "stops in 12m (idle)"; "" when nothing is due. */
export function nextActionText(l: ProjectLifecycle | undefined, nowMs: number): string {
  if (!l || l.nextAction === LifecycleAction.UNSPECIFIED || !l.nextActionAt) return "";
  const verb = l.nextAction === LifecycleAction.DELETE ? "deleted" : "stops";
  const reason = why[l.nextActionReason] ?? l.nextActionReason;
  const at = Number(l.nextActionAt.seconds) * 1000 + Math.floor(l.nextActionAt.nanos / 1e6);
  const left = at - nowMs;
  return left <= 0 ? `${verb} now (${reason})` : `${verb} in ${shortDuration(left)} (${reason})`;
}

/** keepRunningAction is what "Keep running" does: extend an expiry, else record activity. */
export function keepRunningAction(l: ProjectLifecycle | undefined): "extend" | "keepalive" | "" {
  if (!l || l.nextAction === LifecycleAction.UNSPECIFIED) return "";
  if (l.nextActionReason === "Expired") return "extend";
  if (l.nextActionReason === "IdleTimeout") return "keepalive";
  return "";
}

/**
 * keepAliveWhileVisible calls send every KEEPALIVE_MS while the document is
 * visible (and once when it becomes visible again), until the returned stop
 * is called. The server coalesces the writes, so sending often costs nothing
 * but the call.
 */
export function keepAliveWhileVisible(send: () => void, doc: Pick<Document, "visibilityState" | "addEventListener" | "removeEventListener"> = document): () => void {
  const tick = () => {
    if (doc.visibilityState === "visible") send();
  };
  const onVisible = () => tick();
  tick();
  const timer = setInterval(tick, KEEPALIVE_MS);
  doc.addEventListener("visibilitychange", onVisible);
  return () => {
    clearInterval(timer);
    doc.removeEventListener("visibilitychange", onVisible);
  };
}

/** A protobuf Duration as the client sees it. */
interface Dur { seconds: bigint; nanos: number }

const durMs = (d: Dur | undefined): number => (d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : 0);

/** policyText is a default policy for people: "never" for 0, else "30m", "3d". */
export function policyText(d: Dur | undefined): string {
  const ms = durMs(d);
  return ms <= 0 ? "never" : shortDuration(ms);
}

/**
 * durationInput writes d as the server reads it back (a Go duration: "30m",
 * "1h30m", "72h"; "0" for never), for an editable field.
 */
export function durationInput(d: Dur | undefined): string {
  const s = Math.round(durMs(d) / 1000);
  if (s <= 0) return "0";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${sec ? `${sec}s` : ""}`;
}

/** defaultSource says where a default in force comes from. */
export function defaultSource(own: boolean): string {
  return own ? "your setting" : "server default";
}
