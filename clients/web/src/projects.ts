// The project list: live status from the watch stream, create, and the
// lifecycle actions each status allows.

import type { Project } from "./api.js";

import { allowedActions, statusName, type Action } from "./actions.js";
import { h, replace } from "./dom.js";
import { base, type App, type View } from "./main.js";
import { message, newKey } from "./session.js";

export const projectsView: View = (app, el) => {
  const name = h("input", { name: "name", placeholder: "Project name", required: true, maxlength: 63, "data-testid": "new-project-name" });
  const description = h("input", { name: "description", placeholder: "Description (optional)", maxlength: 1024 });
  const create = h("button", { type: "submit", "data-testid": "create-project" }, "Create project");
  const form = h(
    "form",
    { class: "row create", onsubmit: (e: Event) => { e.preventDefault(); void onCreate(); } },
    name,
    description,
    create,
  );
  const link = h("p", { class: "muted", "data-testid": "link-state" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { "data-testid": "projects" },
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "Status"), h("th", null, "Sandbox"), h("th", null, "Database"), h("th", null, "Actions"))),
    tbody,
  );
  const empty = h("p", { class: "muted", "data-testid": "no-projects" }, "No projects yet.");
  replace(el, h("h1", null, "Projects"), form, link, table, empty);

  const paint = () => {
    const list = app.live.list();
    link.textContent = linkText(app);
    replace(tbody, list.map((p) => row(app, p)));
    table.hidden = list.length === 0;
    empty.hidden = list.length !== 0 || !app.live.loaded;
  };
  paint();
  const unsubscribe = app.live.subscribe(paint);

  async function onCreate(): Promise<void> {
    create.disabled = true;
    try {
      const res = await app.session.client.projects.createProject({
        name: name.value.trim(),
        description: description.value.trim(),
        idempotencyKey: newKey(),
      });
      app.live.put(res.project);
      name.value = "";
      description.value = "";
      app.flash("");
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    } finally {
      create.disabled = false;
    }
  }
  return unsubscribe;
};

function linkText(app: App): string {
  switch (app.live.state) {
    case "live":
      return "Live: updates as they happen.";
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      return `Reconnecting… (${app.live.lastError})`;
  }
}

function row(app: App, p: Project): HTMLElement {
  const path = `${base}/projects/${encodeURIComponent(p.id)}`;
  return h(
    "tr",
    { "data-project-id": p.id, "data-project-name": p.name },
    h("td", null, h("a", { href: path, onclick: (e: MouseEvent) => { e.preventDefault(); app.navigate(path); } }, p.name)),
    h("td", null, badge(statusName(p.status), "status")),
    h("td", null, badge(statusName(p.sandbox?.status), "sandbox-status")),
    h("td", null, badge(statusName(p.database?.status), "database-status")),
    h("td", { class: "actions" }, actionButtons(app, p)),
  );
}

/** badge shows a status name, coloured by its class. */
export function badge(status: string, testid: string): HTMLElement {
  return h("span", { class: `badge s-${status.toLowerCase()}`, "data-testid": testid }, status);
}

/** actionButtons are the buttons of the actions p's status allows. */
export function actionButtons(app: App, p: Project, after?: (a: Action) => void): HTMLElement[] {
  return allowedActions(p.status).map((a) =>
    h(
      "button",
      {
        class: a === "delete" ? "danger" : "",
        "data-action": a,
        onclick: (e: Event) => void act(app, p, a, e.currentTarget as HTMLButtonElement, after),
      },
      a[0]!.toUpperCase() + a.slice(1),
    ),
  );
}

async function act(app: App, p: Project, a: Action, btn: HTMLButtonElement, after?: (a: Action) => void): Promise<void> {
  if (a === "delete" && !window.confirm(`Delete project "${p.name}"? Its files and database are kept until an administrator purges them.`)) return;
  btn.disabled = true;
  const c = app.session.client.projects;
  const req = { id: p.id, idempotencyKey: newKey() };
  try {
    const res = a === "start" ? await c.startProject(req) : a === "stop" ? await c.stopProject(req) : await c.deleteProject(req);
    app.live.put(res.project);
    after?.(a);
  } catch (err) {
    if (!app.session.expired(err)) app.flash(`${a} ${p.name}: ${message(err)}`, true);
    btn.disabled = false;
  }
}
