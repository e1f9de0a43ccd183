// Package api serves the fsa.v1 wire contract (clients/proto/fsa/v1) over HTTP for fsad:
// Connect, gRPC and gRPC-Web on one handler, with gRPC health checks
// (grpc.health.v1.Health), server reflection (v1 and v1alpha) and an RPC latency histogram.
//
// [NewHandler] builds the handler from an [fsa.Client] and [Options]. Handlers are one struct
// per service, mounted with the generated fsav1connect constructors. A handler decodes the
// request, calls the SDK and encodes the result (convert.go): every product rule is the SDK's,
// and TestBadInput sends one table of bad inputs through both. Only wire and daemon concerns
// stay here: message size and rate limits, sessions and sign-in, page tokens, parsing a
// kubeconfig (client-go), cluster membership. Handlers never choose an error code: every
// error is mapped to a Connect code in errors.go (errorMapper.toConnect).
//
// # Authentication
//
// Sessions are HS256 JWTs issued by the handler (claims: iss "fsad", sub = user id,
// sid = session id, iat, exp, fsa_iat_ns; header kid = signing key id). They are verified by
// HTTP middleware from the Authorization header before the request message is read; only
// SignUp, Login, GitHubLogin, SealosLogin, health and reflection are public. Keys rotate
// through [AuthConfig]: SigningKey signs, VerificationKeys are still accepted. Logout stores
// the time in the user's configuration entry FSA_SESSION_EPOCH (category "auth"), a replicated
// record, so that every node rejects every token of that user issued before it: logout ends all
// of the user's sessions. Every node of a cluster must share the signing keys, and their
// clocks should agree: a token issued by a node whose clock lags the logging-out node's is
// rejected until the clocks pass the logout time.
//
// The middleware reads the token's user and session epoch from the leader's local state
// (fsa.WithLeaderLocalRead), without a quorum round; every call then runs an operation that is
// linearizable by itself (a commit, which a deposed leader cannot make, or a linearizable
// read), and a refusal is confirmed on a linearizable read first. Only WhoAmI, which reads
// nothing more, and a watch stream, served from the node's local change feed, can be answered
// by a leader deposed moments ago (within the Raft leader lease) for a session that a newer
// leader's logout ended.
//
// Passwords are bcrypt hashes stored as the PASSWORD identity's secret (provider user id =
// username). GitHub sign-in exchanges the OAuth code at GitHubConfig.TokenURL and reads the
// account at GitHubConfig.UserURL (identity GITHUB:<numeric id>). Sealos sign-in verifies the
// Sealos JWT with AuthConfig.SealosJWTSecret (identity SEALOS:<userUid|uid|userId|sub>), stores
// the given kubeconfig as KUBECONFIG and provisions an Aiproxy key when the user has no
// ANTHROPIC_API_KEY; login succeeds even when Aiproxy is down or slow.
//
// # Scoping and secrets
//
// Every RPC acts for the caller only; another user's project is NotFound. ClusterService
// needs the admin role ([AuthConfig].Admins or fsa.RoleAdmin). Secret values are returned only
// to their owner and only on explicit request, and are never logged: the handler logs one line
// per call (procedure, code, duration, user id), and its logger redacts attributes named like
// secrets.
//
// # Limits
//
// Messages over AuthConfig.MaxMessageBytes and requests over the per-user rate limit (per
// client address before login) fail with ResourceExhausted.
//
// # Followers
//
// An error wrapping raftstore.ErrNotLeader becomes Unavailable with a fsa.v1.NotLeaderError
// detail and the [LeaderHeader] response header naming the leader's API address, taken from
// Options.Leader.
//
// # Watch
//
// WatchProjects follows the caller's fsa.Client.Watch, with fsa.EveryRevision, from the
// client's revision or "now" (fsa.Client.LocalRevision: this node's head, no leader round
// trip). It forwards project, sandbox and database changes, PROGRESS messages when caught up
// and while idle (at the last revision read, visible or not), and resync_required (then ends)
// when the revision was compacted away.
package api
