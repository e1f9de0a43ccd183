// Package ticket mints and verifies short-lived terminal tickets for fsa
// sandboxes.
//
// Every sandbox runs a ttyd web terminal on port 7681. Its long-lived
// per-project access token (the TTYD_ACCESS_TOKEN environment variable of the
// sandbox) never leaves the server side: the browser is given a ticket
// derived from it instead, valid for about a minute, and passes it in the
// terminal URL as ?arg=<ticket>. ttyd (started with --url-arg) hands the
// ticket to the sandbox's terminal-auth wrapper, which verifies it in bash
// (runtime/ticket.sh) and either starts the login shell or exits non-zero at
// once.
//
// # Format
//
//	v1.<expiry>.<mac>
//
//	expiry  Unix seconds, decimal, no sign, no leading zero, at most 12 digits
//	mac     base64url without padding (43 characters) of
//	        HMAC-SHA256(key = token,
//	                    msg = "fsa-terminal-v1\n" + project + "\n" + expiry)
//
// The project is bound into the mac but not written into the ticket: a ticket
// minted for another project, or with another token, fails as [ErrInvalid].
// The constant prefix "fsa-terminal-v1" separates these macs from any other
// use of the same key, and names the version.
//
// # Contract
//
// A ticket is accepted at time now when it is well formed, its mac matches
// (compared in constant time with [hmac.Equal]), now < expiry, and
// expiry - now <= [MaxLifetime]. All comparisons use whole Unix seconds, so
// this package and runtime/ticket.sh decide every case identically. The mac
// is checked before the expiry, so only authentic tickets are ever reported
// as [ErrExpired] or [ErrTooFarAhead]. Any non-nil error from [Verify] means:
// refuse the session.
//
// Tickets are bearer credentials until they expire; they are not single-use.
// Callers mint one per terminal page load with [DefaultTTL] and must not log
// the token. Tokens must pass [CheckToken], the same rule the sandbox
// entrypoint applies before it starts ttyd; [NewToken] makes one that does.
//
// Times are passed in explicitly; nothing here reads the clock.
package ticket
