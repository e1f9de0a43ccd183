// Package daemon is fsad: the fsa SDK served over HTTP (Connect, gRPC and gRPC-Web on one
// h2c port, package daemon/api), with the reconcile loops run by exactly one node at a time.
// [Run] owns everything a node has: the store, Raft, the leader monitor, the HTTP server and
// their shutdown. Command daemon/cmd/fsad parses flags and environment ([ParseConfig]) and calls
// Run until SIGINT or SIGTERM.
//
// # Modes
//
// Single-node mode (no --raft-addr, the default) keeps the state in one bbolt file
// (DataDir/fsa.db) and is always the leader: reconcile runs under fsa.Client.RunLeader, which
// raises the store's epoch by one at every start.
//
// Cluster mode (--raft-addr, --node-id) replicates the store with Raft (store/raftstore). The
// first node starts with --bootstrap; others start with --join <member API URL> and ask the
// leader, through the admin endpoint, to add them (a follower answers with the leader's API
// address and the joiner follows it). Joining is idempotent, so a restarted node may keep its
// --join flag. Members are removed, and leadership handed over, through the admin endpoints
// or the RPC ClusterService; both call [Cluster].
//
// # Where the leader's API is
//
// Raft knows node ids and Raft addresses only. Each node's API address is a replicated record
// of kind store.KindNode ({id, raft_address, api_address}): the leader writes a joiner's record
// in the same admin call that adds it, and its own record each time it gains leadership. Any
// node can therefore answer a leader-only call with 503/Unavailable naming the leader's API
// address, read from its local state.
//
// # Leadership and fencing
//
// One monitor goroutine reads raftstore's leadership channel (buffered, latest value). On
// gaining leadership it starts, on a child context: a Raft barrier (the state now holds
// everything earlier leaders committed), fsa.Client.AcquireEpoch(term) (the store's fencing
// epoch becomes the term), the node record, then the reconcile runner with the term as its
// fencing token. On losing leadership it cancels the child and waits for it; a flap (lost and
// regained) restarts everything with the new term. If the epoch is already at or past the term,
// or the runner reports fsa.ErrFenced, that leadership is not usable and the monitor waits for
// the next change. A deposed leader cannot do harm even before it notices: every store write of
// its runner carries the old token and fails in the state machine, and its Kubernetes writes are
// preceded by a linearizable epoch check. Kubernetes objects carry, in the annotation
// fsa.fullstackagent.io/epoch, the epoch of the last write that changed them: a new leader
// rewrites only objects that differ from the desired state, not every object.
//
// # Shutdown
//
// When Run's context ends, a leader first hands leadership to another voter (a planned
// handover takes tens of milliseconds, see BENCH.md), then the HTTP server stops accepting and
// drains, then reconcile stops and the store closes, all bounded by Config.ShutdownTimeout.
//
// # HTTP surface
//
//	/healthz, /readyz          liveness; readiness (a leader is known, the node has joined)
//	/metrics                   Prometheus: Go, process, fsa_raft_*, fsa_daemon_*, fsa_reconcile_*, RPC
//	/debug/pprof/              with --pprof only
//	/admin/v1/snapshot         POST: a fresh Raft snapshot of this node's state (a backup),
//	                           index and term in headers; bearer admin token
//	everything else            the RPC API (package daemon/api); cluster administration
//	                           (status, join, remove, transfer) is its ClusterService, which
//	                           accepts an admin user's session or the admin token
//
// The admin token is compared in constant time; without one the snapshot endpoint is off and
// ClusterService needs an admin user. Secrets (tokens, keys, kubeconfigs) are never logged.
//
// # The test build
//
// The production binary has no test surface. Built with -tags fsadtest (as
// internal/devenv/fsadtest does), fsad also serves the test-only endpoints of
// internal/devenv/testapi under /test/v1/ (SDK writes and local reads as plain JSON, and a
// switch that cuts the node's Raft traffic: a one-node network partition without network
// namespaces, while its HTTP API stays reachable for the test to probe).
package daemon
