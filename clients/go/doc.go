// Package fsaclient is the Go client of fsad, the fsa daemon: a thin layer over the generated
// Connect clients (clients/gen/fsa/v1/fsav1connect) that
//
//   - sends the session token as `Authorization: Bearer <token>` on every call;
//   - follows the leader: an Unavailable error carrying a fsa.v1.NotLeaderError detail (or the
//     Fsa-Leader response header) moves the client to the named leader and resends the call at
//     once, which is safe for every RPC because a follower applies nothing;
//   - retries, with exponential backoff, jitter and a bounded number of attempts, calls that are
//     safe to repeat: RPCs without side effects, and mutations carrying an idempotency key. The
//     client fills an empty idempotency_key with a random one per logical call, so a retried
//     CreateProject never creates two projects. Calls that failed before reaching a server
//     (connection refused) are retried whatever the RPC, on the next endpoint;
//   - resumes WatchProjects after a disconnect ([Client.Watch]) from the last revision it
//     delivered, without gap or duplicate, and reports resync_required as [*ResyncError].
//
// # Contract
//
// A Client is safe for concurrent use. Retries stop when the context ends; the error returned
// is then the last error from the server (or ctx.Err() if none was received). Errors are
// *connect.Error values (use connect.CodeOf); the message is safe to show. The token is never
// logged or included in errors.
package fsaclient
