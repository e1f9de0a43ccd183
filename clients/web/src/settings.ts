// The user's settings: the kubeconfig that says where projects run, and the sign-in methods.

import { h, replace } from "./dom.js";
import { identitiesCard } from "./identities.js";
import type { View } from "./main.js";
import { message } from "./session.js";
import { bytes, millis } from "./sizes.js";

export const settingsView: View = (app, el) => {
  const current = h("dl", { "data-testid": "kubeconfig-status" });
  const text = h("textarea", { rows: 12, spellcheck: "false", autocomplete: "off", placeholder: "Paste a kubeconfig (YAML)", "data-testid": "kubeconfig" });
  const save = h("button", { type: "submit", "data-testid": "save-kubeconfig" }, "Save kubeconfig");
  const [identities, stopIdentities] = identitiesCard(app);
  const quota = h("table", { "data-testid": "quota" });
  replace(
    el,
    h("h1", null, "Settings"),
    h(
      "form",
      { class: "card", onsubmit: (e: Event) => { e.preventDefault(); void onSave(); } },
      h("h2", null, "Kubernetes"),
      h("p", { class: "muted" }, "Projects are created in the namespace of the kubeconfig's current context. The kubeconfig is a secret: it is stored on the server and not shown again."),
      current,
      text,
      h("div", { class: "row" }, save),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", null, "Quota"),
      h("p", { class: "muted" }, "What your projects use and may use. CPU and memory count running projects; storage counts every project, stopped ones included."),
      quota,
    ),
    identities,
  );

  const show = (configured: boolean, context: string, namespace: string, server: string) =>
    replace(
      current,
      configured
        ? [h("dt", null, "Context"), h("dd", null, context), h("dt", null, "Namespace"), h("dd", { "data-testid": "kubeconfig-namespace" }, namespace), h("dt", null, "Server"), h("dd", null, server)]
        : [h("dt", null, "Kubeconfig"), h("dd", { "data-testid": "kubeconfig-missing" }, "not set: projects cannot be created yet")],
    );

  let stopped = false;
  void (async () => {
    try {
      const res = await app.session.client.userConfig.getKubeconfig({ reveal: false });
      if (!stopped) show(res.configured, res.context, res.namespace, res.server);
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    }
  })();

  void (async () => {
    try {
      const q = (await app.session.client.quota.getQuota({})).quota;
      if (stopped || !q) return;
      const l = q.limits, u = q.usage;
      const limit = (n: bigint | number | undefined, fmt: (v: bigint) => string) => (!n ? "no limit" : fmt(BigInt(n)));
      const count = (v: bigint) => String(v);
      const rows: [string, string, string, string][] = [
        ["projects", "Projects", count(BigInt(u?.projects ?? 0)), limit(l?.projects, count)],
        ["running", "Running", count(BigInt(u?.running ?? 0)), limit(l?.running, count)],
        ["cpu", "CPU (running)", millis(u?.cpuMillis ?? 0n), limit(l?.cpuMillis, millis)],
        ["memory", "Memory (running)", bytes(u?.memoryBytes ?? 0n), limit(l?.memoryBytes, bytes)],
        ["storage", "Storage (all projects)", bytes(u?.storageBytes ?? 0n), limit(l?.storageBytes, bytes)],
      ];
      replace(
        quota,
        h("tr", null, h("th", null, ""), h("th", null, "Used"), h("th", null, "Limit")),
        ...rows.map(([id, name, used, lim]) =>
          h("tr", { "data-testid": `quota-${id}` }, h("td", null, name), h("td", null, used), h("td", null, lim))),
      );
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    }
  })();

  async function onSave(): Promise<void> {
    save.disabled = true;
    try {
      const res = await app.session.client.userConfig.setKubeconfig({ kubeconfig: text.value });
      text.value = "";
      show(true, res.context, res.namespace, res.server);
      app.flash(
        res.projectsElsewhere > 0
          ? `Kubeconfig saved. It applies to new projects: ${res.projectsElsewhere} existing project(s) stay in the namespace they were created in.`
          : "Kubeconfig saved.",
      );
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    } finally {
      save.disabled = false;
    }
  }
  return () => { stopped = true; stopIdentities(); };
};
