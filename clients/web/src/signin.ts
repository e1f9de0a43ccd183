// Sign in, or sign up, with a username and password.

import { h, replace } from "./dom.js";
import type { View } from "./main.js";
import { message } from "./session.js";

export const signInView: View = (app, el) => {
  let signUp = false;
  const username = h("input", { name: "username", autocomplete: "username", required: true, "data-testid": "username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "password" });
  const submit = h("button", { type: "submit", "data-testid": "sign-in" });
  const toggle = h("button", { type: "button", class: "link", "data-testid": "toggle-sign-up" });
  const form = h(
    "form",
    { class: "card narrow", onsubmit: (e: Event) => { e.preventDefault(); void go(); } },
    h("h1", null),
    h("label", null, "Username", username),
    h("label", null, "Password", password),
    h("div", { class: "row" }, submit, toggle),
  );
  const paint = () => {
    form.querySelector("h1")!.textContent = signUp ? "Create an account" : "Sign in";
    submit.textContent = signUp ? "Sign up" : "Sign in";
    toggle.textContent = signUp ? "I have an account" : "Create an account";
    password.autocomplete = signUp ? "new-password" : "current-password";
  };
  toggle.onclick = () => { signUp = !signUp; paint(); };
  paint();
  replace(el, form);

  async function go(): Promise<void> {
    submit.disabled = true;
    try {
      const req = { username: username.value.trim(), password: password.value };
      const res = signUp ? await app.session.client.auth.signUp(req) : await app.session.client.auth.login(req);
      password.value = "";
      app.session.setToken(res.session?.token);
    } catch (err) {
      app.flash(message(err), true);
      submit.disabled = false;
    }
  }
};
