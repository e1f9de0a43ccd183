// fsa web console: a single-page app served by fsad under /ui. It talks to the
// fsa API on the same origin with the TypeScript Connect client.

import { h, replace } from "./dom.js";
import { LiveProjects } from "./live.js";
import { projectView } from "./project.js";
import { projectsView } from "./projects.js";
import { message, Session } from "./session.js";
import { settingsView } from "./settings.js";
import { signInView } from "./signin.js";

/** base is the path the console is served under. */
export const base = "/ui";

/** App is what every view gets: the session, the live project list and navigation. */
export interface App {
  session: Session;
  live: LiveProjects;
  navigate(path: string): void;
  /** flash shows a message (an error when error is set) above the view. */
  flash(text: string, error?: boolean): void;
}

/** A view renders into its element and returns a cleanup function. */
export type View = (app: App, el: HTMLElement, param: string) => (() => void) | void;

const root = document.getElementById("app")!;
const session = new Session(window.location.origin);
let live: LiveProjects | undefined;
let cleanup: (() => void) | void;

function startLive(): LiveProjects {
  live?.stop();
  live = new LiveProjects(session.client, () => session.setToken(undefined));
  live.start();
  return live;
}

function navigate(path: string): void {
  if (window.location.pathname !== path) history.pushState(null, "", path);
  render();
}

const flashEl = h("div", { class: "flash", role: "status", "data-testid": "flash", hidden: true });
function flash(text: string, error = false): void {
  flashEl.textContent = text;
  flashEl.className = error ? "flash error" : "flash";
  flashEl.hidden = text === "";
}

function route(path: string): [View, string] {
  const rest = path.startsWith(base) ? path.slice(base.length) : path;
  const m = /^\/projects\/([^/]+)\/?$/.exec(rest);
  if (m) return [projectView, decodeURIComponent(m[1]!)];
  if (rest === "/settings") return [settingsView, ""];
  return [projectsView, ""];
}

function render(): void {
  if (cleanup) cleanup();
  cleanup = undefined;
  flash("");
  const main = h("main", { id: "view" });
  if (!session.signedIn()) {
    live?.stop();
    live = undefined;
    replace(root, header(false), flashEl, main);
    cleanup = signInView(app(), main, "");
    return;
  }
  if (!live) startLive();
  replace(root, header(true), flashEl, main);
  const [view, param] = route(window.location.pathname);
  cleanup = view(app(), main, param);
}

function app(): App {
  return { session, live: live!, navigate, flash };
}

function header(signedIn: boolean): HTMLElement {
  const link = (path: string, label: string) =>
    h("a", { href: path, onclick: (e: MouseEvent) => { e.preventDefault(); navigate(path); } }, label);
  return h(
    "header",
    null,
    h("span", { class: "brand" }, "fsa"),
    signedIn && h("nav", null, link(`${base}/`, "Projects"), link(`${base}/settings`, "Settings")),
    signedIn &&
      h("button", { class: "link", "data-testid": "sign-out", onclick: () => void signOut() }, "Sign out"),
  );
}

async function signOut(): Promise<void> {
  try {
    await session.client.auth.logout({});
  } catch (err) {
    // The token is dropped either way; an expired one cannot log out.
    console.warn("logout:", message(err));
  }
  session.setToken(undefined);
}

session.onChange(() => {
  if (session.signedIn()) startLive();
  render();
});
window.addEventListener("popstate", render);
render();
