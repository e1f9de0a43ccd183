// The user's settings: the kubeconfig that says where projects run, the default idle limit and
// auto-delete of new projects, the quota, and the sign-in methods.

import { h, replace } from "./dom.js";
import { identitiesCard } from "./identities.js";
import { defaultSource, durationInput, policyText } from "./lifecycle.js";
import type { LifecycleDefaults } from "./api.js";
import type { View } from "./main.js";
import { message } from "./session.js";
import { bytes, millis } from "./sizes.js";

export const settingsView: View = (app, el) => {
  const current = h("dl", { "data-testid": "kubeconfig-status" });
  const text = h("textarea", { rows: 12, spellcheck: "false", autocomplete: "off", placeholder: "Paste a kubeconfig (YAML)", "data-testid": "kubeconfig" });
  const save = h("button", { type: "submit", "data-testid": "save-kubeconfig" }, "Save kubeconfig");
  const [identities, stopIdentities] = identitiesCard(app);
  const quota = h("table", { "data-testid": "quota" });
  const idleInput = h("input", { name: "idle-timeout", size: 10, autocomplete: "off", "data-testid": "default-idle-timeout" });
  const deleteInput = h("input", { name: "delete-stopped-after", size: 10, autocomplete: "off", "data-testid": "default-delete-stopped-after" });
  const idleInForce = h("span", { class: "muted", "data-testid": "default-idle-in-force" });
  const deleteInForce = h("span", { class: "muted", "data-testid": "default-delete-in-force" });
  const saveDefaults = h("button", { type: "submit", "data-testid": "save-lifecycle-defaults" }, "Save defaults");
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
      "form",
      { class: "card", onsubmit: (e: Event) => { e.preventDefault(); void onSaveDefaults(); } },
      h("h2", null, "Idle stop and auto-delete"),
      h("p", { class: "muted" }, "Defaults for your new projects: a project created with its own policy keeps it; otherwise it gets yours, and where you set none, the server's. A duration such as 30m or 72h, 0 for never; leave a field empty to use the server's default. Projects created before keep their policies."),
      h("dl", null,
        h("dt", null, "Stop after idle"), h("dd", null, idleInput, " ", idleInForce),
        h("dt", null, "Delete when stopped for"), h("dd", null, deleteInput, " ", deleteInForce)),
      h("div", { class: "row" }, saveDefaults),
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

  const showDefaults = (d: LifecycleDefaults | undefined) => {
    if (!d) return;
    idleInput.value = d.idleTimeoutSet ? durationInput(d.idleTimeout) : "";
    idleInput.placeholder = `server: ${policyText(d.serverIdleTimeout)}`;
    deleteInput.value = d.deleteStoppedAfterSet ? durationInput(d.deleteStoppedAfter) : "";
    deleteInput.placeholder = `server: ${policyText(d.serverDeleteStoppedAfter)}`;
    idleInForce.textContent = `in force: ${policyText(d.idleTimeout)} (${defaultSource(d.idleTimeoutSet)})`;
    deleteInForce.textContent = `in force: ${policyText(d.deleteStoppedAfter)} (${defaultSource(d.deleteStoppedAfterSet)})`;
  };

  let stopped = false;
  void (async () => {
    try {
      const res = await app.session.client.userConfig.getLifecycleDefaults({});
      if (!stopped) showDefaults(res.defaults);
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    }
  })();
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
  // onSaveDefaults sends both fields as typed (the server checks them); an empty one removes
  // the user's setting.
  async function onSaveDefaults(): Promise<void> {
    saveDefaults.disabled = true;
    try {
      const res = await app.session.client.userConfig.setLifecycleDefaults({
        idleTimeout: idleInput.value.trim(),
        deleteStoppedAfter: deleteInput.value.trim(),
      });
      showDefaults(res.defaults);
      app.flash("Defaults saved. They apply to projects created from now on.");
    } catch (err) {
      if (!app.session.expired(err)) app.flash(message(err), true);
    } finally {
      saveDefaults.disabled = false;
    }
  }
  return () => { stopped = true; stopIdentities(); };
};
