// Package wiretest holds end-to-end tests of the generated fsa.v1 code: a
// Connect handler built from fsav1connect, served on the loopback interface,
// called by the generated client over each protocol fsad serves (Connect with
// JSON and binary, gRPC, gRPC-Web). They show that the contract works on the
// wire (unary and server-streaming RPCs, error codes and the NotLeaderError
// detail) independently of the daemon. The package has no non-test code.
package wiretest
