// The file browser of a project's sandbox: list a directory (SandboxService
// ListDir), move into directories and up, download a file (ReadFile, streamed
// into a Blob saved through an object URL) and upload one (PutFile: the whole
// file in one request, within the server's message limit).

import { Code, ConnectError } from "@connectrpc/connect";
import type { Timestamp } from "@bufbuild/protobuf/wkt";

import type { FileInfo } from "./api.js";
import { h, replace } from "./dom.js";
import { errorText } from "./logs.js";
import type { App } from "./main.js";
import { message } from "./session.js";

/** home is the sandbox's home directory: paths are relative to it. */
export const home = ".";

/** joinPath is the path of name inside dir. */
export function joinPath(dir: string, name: string): string {
  if (dir === "" || dir === ".") return name;
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** parentPath is the directory holding dir ("/" stays "/"; home's parent is ".."). */
export function parentPath(dir: string): string {
  const d = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  if (d === "/") return "/";
  if (d === "" || d === ".") return "..";
  const parts = d.split("/");
  if (parts.every((p) => p === "..")) return `${d}/..`;
  const i = d.lastIndexOf("/");
  if (i < 0) return home;
  if (i === 0) return "/";
  return d.slice(0, i);
}

/** formatMode renders permission bits like ls: "drwxr-xr-x", "lrwxrwxrwx", "-rw-r--r--". */
export function formatMode(mode: number, isDir: boolean, isSymlink: boolean): string {
  const kind = isSymlink ? "l" : isDir ? "d" : "-";
  let s = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (mode >> shift) & 7;
    s += (b & 4 ? "r" : "-") + (b & 2 ? "w" : "-") + (b & 1 ? "x" : "-");
  }
  return kind + s;
}

/** formatSize renders a size in bytes for people (exact below 1 KiB). */
export function formatSize(n: number | bigint): string {
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let x = v;
  let u = -1;
  do {
    x /= 1024;
    u++;
  } while (x >= 1024 && u < units.length - 1);
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ${units[u]}`;
}

/** formatTime renders a modification time in UTC, to the second. */
export function formatTime(t: Timestamp | undefined): string {
  if (!t) return "—";
  return new Date(Number(t.seconds) * 1000).toISOString().replace(/\.\d+Z$/, "Z").replace("T", " ");
}

/** uploadErrorText explains a failed upload; too large a file names the limit's remedy. */
export function uploadErrorText(name: string, size: number, err: unknown): string {
  const e = ConnectError.from(err);
  if (e.code === Code.ResourceExhausted) {
    return `upload ${name}: ${formatSize(size)} is more than the server takes in one request ` +
      `(1 MiB unless the operator changed it); use fsactl cp for larger files (${message(err)})`;
  }
  return `upload ${name}: ${errorText(err)}`;
}

/**
 * filesCard renders the file browser of a project's sandbox; refresh lists the
 * current directory again, stop cancels what is running.
 */
export function filesCard(app: App, projectId: string): { el: HTMLElement; refresh(): void; stop(): void } {
  let dir = home;
  let stopped = false;
  const aborts = new Set<AbortController>();
  const where = h("input", { name: "path", value: dir, size: 40, "data-testid": "files-path" });
  const tbody = h("tbody", { "data-testid": "files" });
  const status = h("div", { "data-testid": "files-status" });
  const picker = h("input", { type: "file", "data-testid": "files-upload-input" });
  const uploadBtn = h("button", { type: "button", "data-testid": "files-upload", onclick: () => void upload() }, "Upload here");
  const el = h(
    "section",
    { class: "card", "data-testid": "file-browser" },
    h("h2", null, "Files"),
    h(
      "form",
      { class: "row", onsubmit: (e: Event) => { e.preventDefault(); void open(where.value.trim() || home); } },
      h("button", { type: "button", "data-testid": "files-up", onclick: () => void open(parentPath(dir)) }, "Up"),
      where,
      h("button", { type: "submit", "data-testid": "files-go" }, "List"),
    ),
    status,
    h(
      "table",
      { class: "files" },
      h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Size"), h("th", null, "Mode"), h("th", null, "Modified"), h("th", null, ""))),
      tbody,
    ),
    h("div", { class: "row" }, picker, uploadBtn),
  );

  function say(text: string, error = false): void {
    replace(status, text && h("p", { class: error ? "error" : "muted", "data-testid": error ? "files-error" : "files-note" }, text));
  }

  async function open(path: string): Promise<void> {
    try {
      const res = await app.session.client.sandbox.listDir({ projectId, path });
      if (stopped) return;
      dir = path;
      where.value = path;
      say("");
      replace(tbody, res.entries.length === 0 ? h("tr", null, h("td", { class: "muted", colspan: 5 }, "empty directory")) : res.entries.map(row));
    } catch (err) {
      if (!stopped && !app.session.expired(err)) say(`${path}: ${errorText(err)}`, true);
    }
  }

  function row(f: FileInfo): HTMLElement {
    const name = f.isDir
      ? h("button", { type: "button", class: "link", "data-testid": "files-open", onclick: () => void open(f.path) }, `${f.name}/`)
      : h("span", null, f.name);
    return h(
      "tr",
      { "data-file-name": f.name },
      h("td", null, name, f.isSymlink ? h("span", { class: "tag" }, "link") : ""),
      h("td", { "data-testid": "file-size" }, f.isDir ? "—" : formatSize(f.size)),
      h("td", null, h("code", null, formatMode(f.mode, f.isDir, f.isSymlink))),
      h("td", { class: "muted" }, formatTime(f.modifiedAt)),
      h(
        "td",
        null,
        !f.isDir && !f.isSymlink &&
          h("button", { type: "button", "data-testid": "files-download", onclick: () => void download(f) }, "Download"),
      ),
    );
  }

  async function download(f: FileInfo): Promise<void> {
    const ctl = new AbortController();
    aborts.add(ctl);
    const parts: Uint8Array<ArrayBuffer>[] = [];
    let got = 0;
    say(`downloading ${f.name}…`);
    try {
      for await (const msg of app.session.client.sandbox.readFile({ projectId, path: f.path }, { signal: ctl.signal })) {
        if (msg.data.length === 0) continue;
        parts.push(new Uint8Array(msg.data));
        got += msg.data.length;
        say(`downloading ${f.name}… ${formatSize(got)}`);
      }
      if (stopped) return;
      const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
      const a = h("a", { href: url, download: f.name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      // The browser has the Blob once the download started; free it soon after.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      say(`downloaded ${f.name} (${formatSize(got)})`);
    } catch (err) {
      if (!stopped && !app.session.expired(err)) say(`download ${f.name}: ${errorText(err)}`, true);
    } finally {
      aborts.delete(ctl);
    }
  }

  async function upload(): Promise<void> {
    const file = picker.files?.[0];
    if (!file) {
      say("choose a file to upload first", true);
      return;
    }
    const ctl = new AbortController();
    aborts.add(ctl);
    const target = joinPath(dir, file.name);
    uploadBtn.disabled = true;
    say(`uploading ${file.name} (${formatSize(file.size)})…`);
    try {
      const content = new Uint8Array(await file.arrayBuffer());
      await app.session.client.sandbox.putFile({ projectId, path: target, content }, { signal: ctl.signal });
      if (stopped) return;
      picker.value = "";
      await open(dir);
      say(`uploaded ${target} (${formatSize(file.size)})`);
    } catch (err) {
      if (!stopped && !app.session.expired(err)) say(uploadErrorText(file.name, file.size, err), true);
    } finally {
      uploadBtn.disabled = false;
      aborts.delete(ctl);
    }
  }

  void open(dir);
  return {
    el,
    refresh: () => void open(dir),
    stop: () => {
      stopped = true;
      for (const a of aborts) a.abort();
    },
  };
}
