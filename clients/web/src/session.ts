// The signed-in session: the token lives in this tab's sessionStorage (never in
// localStorage, cookies or URLs) and is sent as a bearer token by the client.

import { Code, ConnectError } from "@connectrpc/connect";
import { createClient, type FsaClient } from "./api.js";

const tokenKey = "fsa.session";

/** Session holds the API client and the current token. */
export class Session {
  readonly client: FsaClient;
  private listeners = new Set<() => void>();

  constructor(baseUrl: string) {
    this.client = createClient(baseUrl, () => this.token());
  }

  /** token is the current session token, undefined when signed out. */
  token(): string | undefined {
    return sessionStorage.getItem(tokenKey) ?? undefined;
  }

  signedIn(): boolean {
    return this.token() !== undefined;
  }

  /** setToken stores a new token (sign-in) or clears it (undefined: sign-out). */
  setToken(token: string | undefined): void {
    if (token) sessionStorage.setItem(tokenKey, token);
    else sessionStorage.removeItem(tokenKey);
    for (const fn of this.listeners) fn();
  }

  /** onChange calls fn after every sign-in and sign-out. */
  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  /** expired clears the token if err says the session is no longer valid; it reports whether it did. */
  expired(err: unknown): boolean {
    if (ConnectError.from(err).code !== Code.Unauthenticated) return false;
    this.setToken(undefined);
    return true;
  }
}

/** message turns any error into text safe to show (the server's messages are). */
export function message(err: unknown): string {
  const e = ConnectError.from(err);
  return e.rawMessage || e.message;
}

/** newKey returns a fresh idempotency key for one user action. */
export function newKey(): string {
  return crypto.randomUUID();
}
