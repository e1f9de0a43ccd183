// Package reconcile drives Kubernetes to the state recorded in the fsa store and records what
// Kubernetes reports.
//
// A [Runner] is level-based and idempotent: each sync reads one child of a project (a sandbox or
// a database) from the store and its observed state from Kubernetes, makes Kubernetes match
// (server-side apply of the complete objects, scale, delete), and records the observation through
// fsa.Client.Record — only when something changed, so an idle system writes nothing to the store.
// It writes nothing to Kubernetes either: the observed state comes from the informer caches, and
// the apply is skipped when the cached objects already hold every field the apply would state and
// fsa owns no field it would drop (server-side apply's own no-op rule), so drift is still
// repaired at once. Restarting at any point loses nothing: the next sync converges from whatever
// it finds.
//
// Work is triggered by three sources: the store's change feed (intents, env and configuration
// changes, within milliseconds), Kubernetes informers per user namespace, label-selected to the
// objects fsa writes (pods becoming ready, crash loops, objects deleted or scaled out of band),
// and a slow periodic resync as a safety net. Items go through a work queue with per-item
// exponential backoff (and a runner-wide bound on retries a second), bounded concurrency,
// per-tenant fairness and three priority lanes (intents, Kubernetes events, resync), so a burst
// of intents does not hold back observations and a resync of every project does not delay a
// user's intent. BENCH.md has the measurements.
//
// # What an idle project costs
//
// The informer caches hold each object trimmed to what reconcile reads (k8s.TrimForCache: no
// managedFields but fsa's own, no pod specs). A child found as desired is remembered (memo.go)
// with what that finding rested on: the change feed's count of changes to its project and its
// owner's settings, and the resourceVersions of its cached objects, pods and database
// credentials. A sync of a child whose counts and versions are unchanged (a resync, an event
// that changed nothing) is then a lookup: no store read, no objects built or compared. A
// remembered finding expires after ten resyncs, so whatever the versions could miss is still
// checked that often (TestUpToDateSyncSeesEveryChange changes every input of a remembered child).
//
// # Warm caches
//
// A Runner starts its informers as its syncs need them, and a new leader's syncs then wait for
// the API servers to send every object again. [Caches] are the same informers apart from any
// runner: given one (Config.Caches), a runner reads and watches them, and they outlive it. Their
// Run keeps them warm on any node, follower or leader: it follows the node's own copy of the
// store (fsa.WithNodeLocalRead) and starts the caches of every namespace a child was placed in,
// with the owner's credentials. They only read, so they need no fencing token; a daemon runs
// them on every node, and a newly elected leader's first pass is its syncs alone
// (TestWarmCachesServeANewLeader; daemon's TestLeaderChangeWritesOnlyWhatDiffers checks that a
// new leader starts no list or watch).
//
// One reconciler per kind of child (sandbox.go, database.go) says which objects it watches, which
// other changes concern it (a sandbox waits for its database's credentials) and how one child
// converges; the Runner does the rest, the same for every kind (sync.go).
//
// # Fencing
//
// A Runner is started with a fencing token: the leader's epoch. Every store write carries it as a
// precondition, so a deposed leader's writes are rejected by the store itself; before each
// Kubernetes write the runner re-reads the epoch (a linearizable read on a replicated store) and
// stops if it changed; and every Kubernetes write carries the token in the
// fsa.fullstackagent.io/epoch annotation. That annotation is the epoch of the last write that
// changed the object and is never itself a reason to write (k8s.UpToDate), so a new leader's
// runner writes only the objects that differ from the desired state, not every object it takes
// over. Run returns an error wrapping fsa.ErrFenced when the token is no longer current. A
// runner paused between its check and its write still writes when it resumes; the optional
// admission policy of deploy/fencing makes the API server refuse such a write (it lowers the
// annotation), and without it the new leader repairs the object in its next sync
// (TestStaleLeaderWrite).
//
// The package knows nothing of Raft or RPC: the daemon decides when to run a Runner and with
// which token; an embedded program uses fsa.Client.RunLeader.
package reconcile
