// The sandbox container's log (SandboxService.StreamLogs): the last N lines,
// then followed until the user stops it or leaves the page.

import { Code, ConnectError } from "@connectrpc/connect";

import { h, replace } from "./dom.js";
import type { App } from "./main.js";
import { message } from "./session.js";

/** defaultTail is how many lines the log view asks for first. */
export const defaultTail = 200;

/** maxLogChars bounds the text the log view keeps; older lines are dropped. */
export const maxLogChars = 256 * 1024;

/**
 * appendLog adds chunk to text and keeps at most max characters: when it
 * must drop some, it drops whole lines from the start if it can.
 */
export function appendLog(text: string, chunk: string, max = maxLogChars): string {
  const all = text + chunk;
  if (all.length <= max) return all;
  const cut = all.length - max;
  const nl = all.indexOf("\n", cut - 1);
  return nl >= 0 && nl < all.length - 1 ? all.slice(nl + 1) : all.slice(cut);
}

/** parseTail reads the "last lines" field: a whole number ≥ 0 (0: the whole log), else undefined. */
export function parseTail(v: string): number | undefined {
  const s = v.trim();
  if (!/^\d{1,7}$/.test(s)) return undefined;
  return Number(s);
}

/** errorText names an RPC error's code with its message ("FailedPrecondition: …"). */
export function errorText(err: unknown): string {
  const e = ConnectError.from(err);
  const code = Code[e.code] ?? "Unknown";
  return `${code}: ${message(err)}`;
}

/** logsCard renders the log view of a project's sandbox; stop ends its stream. */
export function logsCard(app: App, projectId: string): { el: HTMLElement; stop(): void } {
  let abort: AbortController | undefined;
  let text = "";
  const tail = h("input", { name: "tail", value: String(defaultTail), size: 6, inputmode: "numeric", "data-testid": "logs-tail" });
  const button = h("button", { type: "button", "data-testid": "logs-follow", onclick: () => (abort ? stop() : void follow()) }, "Follow log");
  const state = h("span", { class: "muted", "data-testid": "logs-state" });
  const out = h("pre", { class: "log", "data-testid": "logs-output" });
  const err = h("div", { "data-testid": "logs-error-box" });
  const el = h(
    "section",
    { class: "card", "data-testid": "logs" },
    h("h2", null, "Log"),
    h("div", { class: "row" }, h("label", { class: "inline" }, "last lines", tail), button, state),
    err,
    out,
  );

  function stop(): void {
    abort?.abort();
    abort = undefined;
    button.textContent = "Follow log";
  }

  async function follow(): Promise<void> {
    const n = parseTail(tail.value);
    if (n === undefined) {
      replace(err, h("p", { class: "error", "data-testid": "logs-error" }, "last lines: a whole number (0 for the whole log)"));
      return;
    }
    const ctl = new AbortController();
    abort = ctl;
    button.textContent = "Stop";
    replace(err);
    text = "";
    out.textContent = "";
    state.textContent = "following…";
    const decoder = new TextDecoder();
    try {
      const stream = app.session.client.sandbox.streamLogs(
        { projectId, follow: true, tailLines: BigInt(n) },
        { signal: ctl.signal },
      );
      for await (const msg of stream) {
        const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        text = appendLog(text, decoder.decode(msg.data, { stream: true }));
        out.textContent = text;
        if (atBottom) out.scrollTop = out.scrollHeight;
      }
      if (!ctl.signal.aborted) state.textContent = "the log ended (the container stopped or restarted)";
    } catch (e) {
      if (ctl.signal.aborted) return;
      if (app.session.expired(e)) return;
      state.textContent = "";
      replace(err, h("p", { class: "error", "data-testid": "logs-error" }, errorText(e)));
    } finally {
      if (abort === ctl) {
        abort = undefined;
        button.textContent = "Follow log";
      }
      if (ctl.signal.aborted) state.textContent = "stopped";
    }
  }

  return { el, stop };
}
