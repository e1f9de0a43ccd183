package fsa

import "errors"

// Errors returned by the SDK. Every error the Client returns wraps one of these (or a context
// error), so callers branch with errors.Is; the daemon maps them to wire codes in one place.
var (
	// ErrNotFound: the resource does not exist, or it belongs to another user (fsa does not reveal
	// which).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with the same unique key exists (identity, environment key).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: the input is malformed; nothing was stored.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition: the action is not allowed in the resource's current state.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrConflict: a concurrent writer changed the resource and retries were exhausted; nothing
	// was stored. Retrying the call is safe.
	ErrConflict = errors.New("conflict")
	// ErrPermissionDenied: the caller may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrResourceExhausted: the call would take the user over a limit (see Limits); nothing was
	// stored.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrFenced: a write carried a fencing token that is no longer current (a deposed leader).
	ErrFenced = errors.New("fenced")
	// ErrKeyUnavailable: a secret value is sealed with a key-encryption key the client does not
	// hold (or the client has no keyring); nothing was changed.
	ErrKeyUnavailable = errors.New("key unavailable")
	// ErrDecrypt: a sealed value does not open: altered, damaged, moved from another record, or
	// its data key wrapped by a different key under the same id.
	ErrDecrypt = errors.New("sealed value does not open")
)
