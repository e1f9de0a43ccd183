package api

import "connectrpc.com/connect"

// CodeOf is the one mapping of errors to Connect codes (codeOf), for the black-box tests that
// check an SDK error and an RPC code agree.
func CodeOf(err error) (connect.Code, bool) { return codeOf(err) }
