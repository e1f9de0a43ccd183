package ticket

import "errors"

var (
	// ErrWeakToken means the access token is too short, too long, too
	// repetitive, contains whitespace or control characters, or looks like
	// a placeholder. The sandbox entrypoint refuses to start with such a
	// token.
	ErrWeakToken = errors.New("ticket: weak access token")

	// ErrBadProject means the project name is empty, longer than
	// MaxProjectLen bytes, or contains control characters.
	ErrBadProject = errors.New("ticket: bad project name")

	// ErrBadExpiry means the expiry cannot be written into a ticket: it is
	// not after the Unix epoch or has more than 12 decimal digits.
	ErrBadExpiry = errors.New("ticket: bad expiry")

	// ErrMalformed means the ticket is not of the form v1.<expiry>.<mac>.
	ErrMalformed = errors.New("ticket: malformed ticket")

	// ErrInvalid means the mac does not match: the ticket was forged,
	// altered, or minted for another project or with another token.
	ErrInvalid = errors.New("ticket: invalid ticket")

	// ErrExpired means an authentic ticket whose expiry has passed.
	ErrExpired = errors.New("ticket: expired ticket")

	// ErrTooFarAhead means an authentic ticket that expires more than
	// MaxLifetime after now.
	ErrTooFarAhead = errors.New("ticket: ticket expires too far ahead")
)
