// Package fsa is the SDK for per-project cloud development sandboxes on Kubernetes.
//
// A portal creates a project for a user; each project owns a sandbox (a StatefulSet running the
// runtime image with a web terminal, a Service, the terminal's Ingress and, if the project
// publishes its app (ProjectSpec.PublicApp, SetPublicApp), the app's) and a PostgreSQL database,
// plus environment variables synced into the sandbox. Both children embed [Child] (status,
// desired state, timeline, version) and are handled alike as [ChildObject] (see children.go).
//
// # Intent, then reconcile
//
// Client methods never wait on Kubernetes. They validate input, check the business rules on a
// consistent snapshot of the store, and commit a compare-and-swap transaction that records the
// desired state (CREATING, STARTING, STOPPING, TERMINATING), returning in milliseconds.
// Reconcile loops (package reconcile) follow the store's change feed, drive Kubernetes to that
// state and record what they observe (RUNNING, STOPPED, TERMINATED, ERROR) through
// [Client.Record], under a fencing token. A project's status is aggregated from its children by
// [Aggregate] in the same transaction as any child change.
//
// # The SDK owns every rule
//
// Every validation and business rule lives here only (limits, names, keys, the allowed
// actions, the kubeconfig a project needs, idempotency keys, the merge of [Client.UpdateEnv]),
// so a program embedding the SDK gets the answers the daemon's API gives: that one decodes,
// calls the SDK, encodes, and maps errors to wire codes. (It also parses a kubeconfig it is
// given with client-go, k8s.ParseKubeconfig.)
//
// # Using a sandbox
//
// [Client.Exec], [Client.ReadFile], [Client.WriteFile], [Client.Stat], [Client.ListDir],
// [Client.Mkdir], [Client.Remove], [Client.Logs] and [Client.DialSandbox] reach a RUNNING
// project's sandbox through the owner's own kubeconfig (pods/exec, pods/log, pods/portforward,
// through package k8s); no client-go type appears in their signatures. A project that is not
// RUNNING is [ErrFailedPrecondition]; a kubeconfig lacking one of those permissions is
// [ErrPermissionDenied] naming it; a file over a limit is [ErrTooLarge].
//
// # Scoping
//
// Every user-facing method takes the calling user's id. Another user's project is reported as
// [ErrNotFound], exactly like a missing one. Secret values (environment variables marked secret,
// user settings such as kubeconfigs and API keys) are withheld unless the owner asks for them,
// and the platform's terminal token is never returned.
//
// # Errors
//
// Every error wraps one of the sentinels in errors.go ([ErrNotFound], [ErrAlreadyExists],
// [ErrInvalidArgument], [ErrFailedPrecondition], [ErrConflict], [ErrPermissionDenied],
// [ErrFenced]); bad input is rejected before anything is stored.
//
// # Watching
//
// [Client.Watch] follows the change feed after a revision. With [EveryRevision] a [Watcher]
// also returns the transactions it cannot show, without changes, so a stream can say how far
// it has read; [Client.LocalRevision] is "now" for a watch, read from this node's own state.
//
// # Stores
//
// [New] takes any store.Store: memstore for tests, boltstore for an embedded program, raftstore
// for the replicated daemon. On a store whose leader can read its local state without a quorum
// round (raftstore's ViewLeaderLocal), a write builds its transaction on that state first: the
// transaction's conditions make a stale snapshot fail and retry on a linearizable one, and an
// outcome that commits nothing (an error, a replayed call, no change) is decided on a
// linearizable snapshot. Reads are linearizable unless the context says otherwise
// ([WithLeaderLocalRead]; [WithNodeLocalRead], for work any node can do ahead of the leader,
// such as warming caches on a follower).
package fsa
