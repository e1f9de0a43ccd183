// One project: its status and children, Explain, the environment editor, the
// web terminal, the private app preview, the sandbox's log and its files.

import { ResourceKind, Status, type EnvVar, type Explanation, type Project } from "./api.js";

import { statusName } from "./actions.js";
import { h, replace } from "./dom.js";
import { base, type App, type View } from "./main.js";
import { filesCard } from "./files.js";
import { keepAliveWhileVisible, keepRunningAction, nextActionText } from "./lifecycle.js";
import { errorText, logsCard } from "./logs.js";
import { actionButtons, badge } from "./projects.js";
import { message, newKey } from "./session.js";
import { sizeLine } from "./sizes.js";

export const projectView: View = (app, el, id) => {
  const summary = h("section", { class: "card", "data-testid": "project-summary" });
  const explainOut = h("div", { "data-testid": "explanation" });
  const explainBtn = h("button", { "data-testid": "explain", onclick: () => void explain() }, "Explain");
  const terminal = h("div", { class: "terminal", "data-testid": "terminal" });
  const termBtn = h("button", { "data-testid": "open-terminal", onclick: () => void openTerminal() }, "Open terminal");
  const preview = h("div", { "data-testid": "preview" });
  const previewBtn = h("button", { "data-testid": "open-preview", onclick: () => void openPreview() }, "Open preview");
  const env = envEditor(app, id);
  const logs = logsCard(app, id);
  const files = filesCard(app, id);
  replace(
    el,
    h("p", null, h("a", { href: `${base}/`, onclick: (e: MouseEvent) => { e.preventDefault(); app.navigate(`${base}/`); } }, "← Projects")),
    summary,
    h("section", { class: "card" }, h("h2", null, "Terminal"), h("div", { class: "row" }, termBtn), terminal),
    h(
      "section",
      { class: "card" },
      h("h2", null, "App preview"),
      h("p", { class: "muted" }, "Your app on port 3000, through fsad, for you alone (a new tab)."),
      h("div", { class: "row" }, previewBtn),
      preview,
    ),
    logs.el,
    files.el,
    h("section", { class: "card" }, h("h2", null, "Why is it in this status?"), h("div", { class: "row" }, explainBtn), explainOut),
    env.el,
  );

  let sandboxStatus: Status | undefined;
  const paint = () => {
    const p = app.live.get(id);
    // The sandbox (re)started: list its files again (the first listing may have found it not
    // RUNNING yet).
    const st = p?.sandbox?.status;
    if (st === Status.RUNNING && sandboxStatus !== undefined && sandboxStatus !== Status.RUNNING) files.refresh();
    sandboxStatus = st;
    if (!p) {
      if (app.live.loaded) {
        replace(summary, h("p", { "data-testid": "project-gone" }, "This project does not exist (any more)."));
      }
      return;
    }
    replace(summary, projectSummary(app, p));
  };
  paint();
  const unsubscribe = app.live.subscribe(paint);
  // The time left changes without events: repaint every 30 s.
  const repaint = setInterval(paint, 30_000);
  // While a terminal is open and the tab visible, the console keeps the project from idling.
  let stopKeepAlive: (() => void) | undefined;
  const keepAlive = () => {
    app.session.client.projects.keepAlive({ id }).catch((err: unknown) => {
      app.session.expired(err);
    });
  };

  async function explain(): Promise<void> {
    explainBtn.disabled = true;
    try {
      const res = await app.session.client.projects.explainProject({ id });
      replace(explainOut, res.explanation ? renderExplanation(res.explanation) : "No explanation.");
    } catch (err) {
      if (!app.session.expired(err)) replace(explainOut, h("p", { class: "error" }, message(err)));
    } finally {
      explainBtn.disabled = false;
    }
  }

  // Each opening asks for a fresh URL: it carries a short-lived ticket.
  async function openTerminal(): Promise<void> {
    termBtn.disabled = true;
    try {
      const res = await app.session.client.projects.terminalAccess({ projectId: id });
      const frame = h("iframe", {
        title: "Terminal",
        referrerpolicy: "no-referrer",
        sandbox: "allow-scripts allow-same-origin allow-forms allow-downloads",
        allow: "clipboard-read; clipboard-write",
        "data-testid": "terminal-frame",
      });
      frame.src = res.url;
      replace(terminal, frame);
      stopKeepAlive?.();
      stopKeepAlive = keepAliveWhileVisible(keepAlive);
      termBtn.textContent = "Reopen terminal";
    } catch (err) {
      if (!app.session.expired(err)) replace(terminal, h("p", { class: "error", "data-testid": "terminal-error" }, message(err)));
    } finally {
      termBtn.disabled = false;
    }
  }

  // The tab is opened at once, in the click, so that popup blockers let it
  // through; it is sent to the preview once the ticket is there. Its path
  // carries the ticket, which fsad trades for a cookie scoped to the preview.
  async function openPreview(): Promise<void> {
    previewBtn.disabled = true;
    const tab = window.open("", "_blank");
    try {
      const res = await app.session.client.sandbox.previewAccess({ projectId: id });
      const url = new URL(res.path, window.location.origin).href;
      if (tab) {
        tab.opener = null;
        tab.location.href = url;
      } else {
        window.open(url, "_blank", "noopener");
      }
      replace(preview);
    } catch (err) {
      tab?.close();
      if (!app.session.expired(err)) replace(preview, h("p", { class: "error", "data-testid": "preview-error" }, errorText(err)));
    } finally {
      previewBtn.disabled = false;
    }
  }

  return () => {
    unsubscribe();
    clearInterval(repaint);
    stopKeepAlive?.();
    env.stop();
    logs.stop();
    files.stop();
  };
};

// keepRunning records activity, or extends an expiry by an hour.
async function keepRunning(app: App, p: Project): Promise<void> {
  try {
    if (keepRunningAction(p.lifecycle) === "extend") {
      const res = await app.session.client.projects.extendProject({ id: p.id, by: { seconds: 3600n, nanos: 0 } });
      app.live.put(res.project);
    } else {
      await app.session.client.projects.keepAlive({ id: p.id });
      const res = await app.session.client.projects.getProject({ id: p.id });
      app.live.put(res.project);
    }
  } catch (err) {
    if (!app.session.expired(err)) app.flash(`keep running: ${message(err)}`, true);
  }
}

function projectSummary(app: App, p: Project): (HTMLElement | null)[] {
  const sb = p.sandbox;
  const db = p.database;
  return [
    h("h1", { "data-testid": "project-name" }, p.name),
    p.description ? h("p", null, p.description) : null,
    h(
      "dl",
      null,
      h("dt", null, "Status"), h("dd", null, badge(statusName(p.status), "status")),
      h("dt", null, "Sandbox"), h("dd", null, badge(statusName(sb?.status), "sandbox-status"), sb?.reason ? ` ${sb.reason}` : ""),
      h("dt", null, "Database"), h("dd", null, badge(statusName(db?.status), "database-status"), db?.reason ? ` ${db.reason}` : ""),
      h("dt", null, "App"), h("dd", { "data-testid": "app-url" }, appCell(app, p)),
      h("dt", null, "Size"), h("dd", { "data-testid": "project-size" }, sizeLine(p.size)),
      h("dt", null, "Next"),
      h(
        "dd",
        { "data-testid": "next-action" },
        nextActionText(p.lifecycle, Date.now()) || "—",
        keepRunningAction(p.lifecycle) !== ""
          ? h("button", { class: "inline", "data-testid": "keep-running", onclick: () => void keepRunning(app, p) }, "Keep running")
          : null,
      ),
      h("dt", null, "Kubernetes name"), h("dd", null, h("code", null, p.k8sName)),
      h("dt", null, "Id"), h("dd", null, h("code", null, p.id)),
    ),
    h("div", { class: "row actions", "data-testid": "project-actions" }, actionButtons(app, p)),
  ];
}

// appCell shows the app's public URL, or that it is private, with the toggle
// that publishes it (SetPublicApp; the reconciler adds or removes its Ingress).
function appCell(app: App, p: Project): (HTMLElement | string)[] {
  const sb = p.sandbox;
  if (!sb) return ["—"];
  const toggle = h("input", {
    type: "checkbox",
    checked: sb.publicApp,
    "data-testid": "public-app",
    onchange: () => void setPublic(toggle),
  });
  async function setPublic(box: HTMLInputElement): Promise<void> {
    box.disabled = true;
    try {
      const res = await app.session.client.projects.setPublicApp({ projectId: p.id, publicApp: box.checked });
      app.live.put(res.project);
    } catch (err) {
      box.checked = !box.checked;
      if (!app.session.expired(err)) app.flash(`app visibility: ${message(err)}`, true);
    } finally {
      box.disabled = false;
    }
  }
  const shown = !sb.publicApp
    ? h("span", { class: "muted" }, "private: only you, with Open preview")
    : sb.appUrl
      ? h("a", { href: sb.appUrl, target: "_blank", rel: "noopener noreferrer" }, sb.appUrl)
      : h("span", { class: "muted" }, "public: its URL comes once the Ingress is made");
  return [shown, " ", h("label", { class: "inline" }, toggle, "public URL")];
}

function renderExplanation(x: Explanation): HTMLElement {
  return h(
    "div",
    null,
    h("p", null, "Project is ", badge(statusName(x.projectStatus), "explain-status"), ` (revision ${x.revision}).`),
    x.children.map((c) =>
      h(
        "div",
        { class: "child" },
        h("h3", null, c.kind === ResourceKind.SANDBOX ? "Sandbox" : c.kind === ResourceKind.DATABASE ? "Database" : "Child", " ", h("code", null, c.id)),
        h(
          "dl",
          null,
          h("dt", null, "Desired"), h("dd", null, statusName(c.desired)),
          h("dt", null, "Observed"), h("dd", null, statusName(c.observed)),
          h("dt", null, "Last error"), h("dd", null, c.lastError || "—"),
          h("dt", null, "Next"), h("dd", null, c.nextAction || "— (settled)"),
        ),
        c.conditions.length > 0 &&
          h(
            "ol",
            { class: "timeline" },
            c.conditions.map((k) =>
              h(
                "li",
                null,
                k.time ? new Date(Number(k.time.seconds) * 1000).toISOString().replace(".000Z", "Z") + " " : "",
                `${statusName(k.from)} → ${statusName(k.to)} `,
                h("code", null, k.reason),
                k.message ? ` ${k.message}` : "",
              ),
            ),
          ),
      ),
    ),
  );
}

// envEditor lists, adds, changes and deletes a project's variables. Secret
// values stay redacted unless the owner asks to reveal them.
function envEditor(app: App, projectId: string): { el: HTMLElement; stop(): void } {
  let reveal = false;
  let stopped = false;
  const tbody = h("tbody");
  const revealBtn = h("button", { type: "button", "data-testid": "env-reveal", onclick: () => { reveal = !reveal; void load(); } });
  const key = h("input", { name: "key", placeholder: "KEY", required: true, pattern: "[A-Za-z_][A-Za-z0-9_]*", "data-testid": "env-key" });
  const value = h("input", { name: "value", placeholder: "value", type: "password", autocomplete: "off", "data-testid": "env-value" });
  const category = h("input", { name: "category", placeholder: "category (optional)", maxlength: 63 });
  const secret = h("input", { type: "checkbox", checked: true, "data-testid": "env-secret", onchange: () => { value.type = secret.checked ? "password" : "text"; } });
  const add = h(
    "form",
    { class: "row", onsubmit: (e: Event) => { e.preventDefault(); void save(); } },
    key, value, category, h("label", { class: "inline" }, secret, "secret"), h("button", { type: "submit", "data-testid": "env-save" }, "Set"),
  );
  const el = h(
    "section",
    { class: "card", "data-testid": "env" },
    h("h2", null, "Environment"),
    h("div", { class: "row" }, revealBtn),
    h("table", null, h("thead", null, h("tr", null, h("th", null, "Key"), h("th", null, "Value"), h("th", null, "Category"), h("th", null, ""))), tbody),
    add,
  );

  async function load(): Promise<void> {
    revealBtn.textContent = reveal ? "Hide secrets" : "Reveal secrets";
    try {
      const res = await app.session.client.environment.listEnv({ projectId, revealSecrets: reveal });
      if (!stopped) replace(tbody, res.vars.map(row));
    } catch (err) {
      if (!app.session.expired(err)) app.flash(`environment: ${message(err)}`, true);
    }
  }

  function row(v: EnvVar): HTMLElement {
    const shown = v.redacted ? "••••••••" : v.value;
    return h(
      "tr",
      { "data-env-key": v.key },
      h("td", null, h("code", null, v.key), v.secret ? h("span", { class: "tag" }, "secret") : ""),
      h("td", { class: v.redacted ? "muted" : "", "data-testid": "env-value-cell" }, shown),
      h("td", null, v.platformOwned ? "platform" : v.category),
      h(
        "td",
        null,
        !v.platformOwned &&
          h("button", { class: "danger", "data-testid": "env-delete", onclick: () => void del(v.key) }, "Delete"),
      ),
    );
  }

  async function save(): Promise<void> {
    try {
      await app.session.client.environment.setEnv({
        projectId,
        key: key.value.trim(),
        value: value.value,
        category: category.value.trim(),
        secret: secret.checked,
        idempotencyKey: newKey(),
      });
      key.value = "";
      value.value = "";
      await load();
    } catch (err) {
      if (!app.session.expired(err)) app.flash(`set ${key.value}: ${message(err)}`, true);
    }
  }

  async function del(k: string): Promise<void> {
    try {
      await app.session.client.environment.deleteEnv({ projectId, key: k });
      await load();
    } catch (err) {
      if (!app.session.expired(err)) app.flash(`delete ${k}: ${message(err)}`, true);
    }
  }

  void load();
  return { el, stop: () => { stopped = true; } };
}
