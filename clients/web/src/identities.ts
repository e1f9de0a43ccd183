// The user's sign-in methods (Settings): list them, link GitHub through its OAuth
// web flow or add a password, and remove one while another is left.

import { Provider, type Identity } from "./api.js";
import { h, replace } from "./dom.js";
import type { App } from "./main.js";
import { message } from "./session.js";

const stateKey = "fsa.github-link-state";

/** providerLabel names a provider for people. */
export function providerLabel(p: Provider): string {
  switch (p) {
    case Provider.PASSWORD: return "Password";
    case Provider.GITHUB: return "GitHub";
    case Provider.SEALOS: return "Sealos";
    case Provider.EXTERNAL: return "Portal";
    default: return "Unknown";
  }
}

/** canUnlink reports whether a method may be removed: never the last one. */
export function canUnlink(list: readonly Identity[]): boolean {
  return list.length > 1;
}

/** githubAuthorizeUrl is where the browser goes to link a GitHub account. */
export function githubAuthorizeUrl(authorizeUrl: string, clientId: string, redirectUri: string, state: string): string {
  const u = new URL(authorizeUrl);
  u.searchParams.set("client_id", clientId);
  u.searchParams.set("redirect_uri", redirectUri);
  u.searchParams.set("state", state);
  u.searchParams.set("scope", "read:user");
  return u.toString();
}

/**
 * githubCallback reads the code GitHub redirected back with, if the URL carries one: ok only
 * when its state is the one this tab sent (expected), so a forged redirect links nothing.
 */
export function githubCallback(search: string, expected: string | null): { code: string; state: string; ok: boolean } | undefined {
  const q = new URLSearchParams(search);
  const code = q.get("code");
  const state = q.get("state");
  if (!code || state === null) return undefined;
  return { code, state, ok: expected !== null && expected !== "" && state === expected };
}

function randomState(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** identitiesCard renders the sign-in methods card; it returns the card and a stop function. */
export function identitiesCard(app: App): [HTMLElement, () => void] {
  const rows = h("tbody", { "data-testid": "identities" });
  const github = h("button", { type: "button", "data-testid": "link-github", hidden: true }, "Link GitHub");
  const username = h("input", { name: "link-username", autocomplete: "username", "data-testid": "link-username" });
  const password = h("input", { name: "link-password", type: "password", autocomplete: "new-password", "data-testid": "link-password" });
  const addPassword = h("button", { type: "submit", "data-testid": "link-password-submit" }, "Add password");
  const card = h(
    "section",
    { class: "card" },
    h("h2", null, "Sign-in methods"),
    h("p", { class: "muted" }, "Each method signs in to this same account. The last one cannot be removed."),
    h("table", null, h("thead", null, h("tr", null, h("th", null, "Method"), h("th", null, "Account"), h("th", null, ""))), rows),
    h("div", { class: "row" }, github),
    h(
      "form",
      { onsubmit: (e: Event) => { e.preventDefault(); void onAddPassword(); } },
      h("label", null, "Username", username),
      h("label", null, "Password", password),
      h("div", { class: "row" }, addPassword),
    ),
  );
  let stopped = false;
  const redirectUri = `${window.location.origin}${window.location.pathname}`;

  async function load(): Promise<void> {
    try {
      const res = await app.session.client.auth.listIdentities({});
      if (stopped) return;
      const removable = canUnlink(res.identities);
      replace(
        rows,
        res.identities.map((i) =>
          h(
            "tr",
            { "data-testid": `identity-${providerLabel(i.provider).toLowerCase()}` },
            h("td", null, providerLabel(i.provider), i.primary ? " (primary)" : ""),
            h("td", null, i.displayName || i.providerUserId),
            h("td", null, removable && h("button", { type: "button", class: "link", "data-testid": "unlink", onclick: () => void onUnlink(i) }, "Remove")),
          ),
        ),
      );
      const hasGitHub = res.identities.some((i) => i.provider === Provider.GITHUB);
      github.hidden = res.githubClientId === "" || hasGitHub;
      github.onclick = () => {
        const state = randomState();
        sessionStorage.setItem(stateKey, state);
        window.location.assign(githubAuthorizeUrl(res.githubAuthorizeUrl, res.githubClientId, redirectUri, state));
      };
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    }
  }

  async function onUnlink(i: Identity): Promise<void> {
    try {
      await app.session.client.auth.unlinkIdentity({ provider: i.provider, providerUserId: i.providerUserId });
      app.flash(`${providerLabel(i.provider)} removed.`);
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    }
    await load();
  }

  async function onAddPassword(): Promise<void> {
    addPassword.disabled = true;
    try {
      await app.session.client.auth.linkIdentity({ method: { case: "password", value: { username: username.value.trim(), password: password.value } } });
      password.value = "";
      app.flash("Password added.");
      await load();
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    } finally {
      addPassword.disabled = false;
    }
  }

  // Back from GitHub: link the account, then drop the code from the address bar.
  const cb = githubCallback(window.location.search, sessionStorage.getItem(stateKey));
  void (async () => {
    if (cb) {
      sessionStorage.removeItem(stateKey);
      history.replaceState(null, "", window.location.pathname);
      if (!cb.ok) {
        app.flash("The GitHub answer does not match the request this tab sent; nothing was linked.", true);
      } else {
        try {
          await app.session.client.auth.linkIdentity({ method: { case: "github", value: { code: cb.code, state: cb.state, redirectUri } } });
          app.flash("GitHub linked.");
        } catch (err) {
          if (!app.session.expired(err)) app.flash(message(err), true);
        }
      }
    }
    await load();
  })();
  return [card, () => { stopped = true; }];
}
