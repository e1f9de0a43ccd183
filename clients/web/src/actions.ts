// Which lifecycle actions a project's status allows. Mirrors the server's table
// (fsa's allowed actions): a button for an action that is not allowed is not shown.

import { Status } from "./api.js";

export type Action = "start" | "stop" | "delete";

const table: Partial<Record<Status, readonly Action[]>> = {
  [Status.CREATING]: ["delete"],
  [Status.STARTING]: ["stop", "delete"],
  [Status.RUNNING]: ["stop", "delete"],
  [Status.STOPPING]: ["start", "delete"],
  [Status.STOPPED]: ["start", "delete"],
  [Status.TERMINATING]: [],
  [Status.TERMINATED]: [],
  [Status.ERROR]: ["start", "stop", "delete"],
  [Status.PARTIAL]: ["start", "stop", "delete"],
};

/** allowedActions returns the actions a project in status s accepts (none if unknown). */
export function allowedActions(s: Status): readonly Action[] {
  return table[s] ?? [];
}

/** statusName is the short upper-case name of a status, e.g. "RUNNING". */
export function statusName(s: Status | undefined): string {
  if (s === undefined || s === Status.UNSPECIFIED) return "UNKNOWN";
  return Status[s] ?? "UNKNOWN";
}
