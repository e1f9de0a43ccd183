// A minimal page on the fsa API: sign in (or up), list the user's projects
// with their live status (one WatchProjects stream, no polling) and create
// projects. The API is at ?api=<url>, by default this page's own origin
// (fsad sends no CORS headers: serve the page and proxy /fsa.v1.* to fsad
// from one origin, see README.md).
import {
  createFsaClient,
  EventType,
  type Project,
  ResyncRequiredError,
  Status,
  watchProjects,
} from "@fullstackagent/fsa-client";

const api = new URLSearchParams(location.search).get("api") ?? location.origin;
let token: string | undefined; // kept in memory only: a reload signs out
const fsa = createFsaClient({ baseUrl: api, tokenProvider: () => token });

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const authForm = $<HTMLFormElement>("auth");
const createForm = $<HTMLFormElement>("create");
const list = $<HTMLUListElement>("projects");
const projects = new Map<string, Project>();

function showError(err: unknown) {
  $("error").textContent = err ? (err instanceof Error ? err.message : String(err)) : "";
}

function statusName(s: Status): string {
  return Status[s] ?? "UNKNOWN";
}

function render() {
  const sorted = [...projects.values()].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((p) => {
      const li = document.createElement("li");
      li.dataset.project = p.name;
      li.dataset.status = statusName(p.status);
      const status = document.createElement("span");
      status.className = "status";
      status.textContent = statusName(p.status);
      li.append(`${p.name}: `, status);
      return li;
    }),
  );
  if (projects.size === 0) list.textContent = "No projects yet.";
}

/** listAll reads every page of ListProjects; it returns the first page's revision. */
async function listAll(): Promise<bigint> {
  projects.clear();
  let pageToken = "";
  let revision = 0n;
  do {
    const page = await fsa.projects.listProjects({ pageToken });
    if (revision === 0n) revision = page.revision;
    for (const p of page.projects) projects.set(p.id, p);
    pageToken = page.nextPageToken;
  } while (pageToken);
  render();
  return revision;
}

/** follow lists the projects once, then applies WatchProjects events until the stream fails for good. */
async function follow() {
  const live = $("live");
  try {
    const fromRevision = await listAll();
    live.textContent = "live";
    await watchProjects(fsa, {
      fromRevision,
      onEvent(ev) {
        live.textContent = "live";
        if (ev.resource.case !== "project") return; // sandbox and database events: not shown here
        const p = ev.resource.value;
        if (ev.type === EventType.DELETE) projects.delete(p.id);
        else if (ev.type === EventType.PUT) projects.set(p.id, p);
        render();
      },
      onResync: () => listAll(), // history compacted: list again and go on from there
      onRetry: (err) => (live.textContent = `reconnecting… (${err.message})`),
    });
  } catch (err) {
    live.textContent = "disconnected";
    showError(err instanceof ResyncRequiredError ? "resync failed" : err);
  }
}

authForm.addEventListener("submit", async (e: SubmitEvent) => {
  e.preventDefault();
  const form = new FormData(authForm);
  const req = { username: String(form.get("username")), password: String(form.get("password")) };
  const signUp = (e.submitter as HTMLButtonElement | null)?.name === "signup";
  try {
    const { session } = signUp ? await fsa.auth.signUp(req) : await fsa.auth.login(req);
    token = session?.token;
    showError(undefined);
    $("who").textContent = session?.user?.name ?? req.username;
    authForm.hidden = true;
    $("main").hidden = false;
    void follow();
  } catch (err) {
    showError(err);
  }
});

createForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = createForm.elements.namedItem("name") as HTMLInputElement;
  try {
    // The new project shows up through the watch stream; nothing to add here.
    await fsa.projects.createProject({ name: input.value, idempotencyKey: crypto.randomUUID() });
    input.value = "";
    showError(undefined);
  } catch (err) {
    showError(err);
  }
});
