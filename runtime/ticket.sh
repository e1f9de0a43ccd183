# shellcheck shell=bash
#
# ticket.sh — terminal tickets for the fsa sandbox, in bash.
#
# Sourced by entrypoint.sh and terminal-auth; never executed on its own.
# The Go package github.com/fullstackagent/fsa/runtime/ticket implements the
# same scheme, and the tests in runtime/ check that both sides agree.
#
# A ticket is
#
#     v1.<expiry>.<mac>
#
#   expiry  Unix seconds, decimal, no sign, no leading zero, at most 12 digits
#   mac     base64url without padding (43 characters) of
#           HMAC-SHA256(key = TTYD_ACCESS_TOKEN,
#                       msg = "fsa-terminal-v1\n<project>\n<expiry>")
#
# A ticket is accepted at time now when it is well formed, its mac matches,
# now < expiry, and expiry - now <= TICKET_MAX_LIFETIME.
#
# Secrets: the key is only ever handed to bash builtins (printf) writing into
# pipes, so it never appears in the argv of any process. HMAC is built here
# from its definition (RFC 2104) on top of `openssl dgst -sha256`, because
# `openssl dgst -hmac` and `openssl mac -macopt key:` both take the key on the
# command line. Never run these functions under `set -x`.

# Longest accepted ticket lifetime, in seconds. Keep in step with
# ticket.MaxLifetime in Go.
TICKET_MAX_LIFETIME=300
# Token rules. Keep in step with ticket.CheckToken in Go.
TICKET_MIN_TOKEN_LEN=32
TICKET_MAX_TOKEN_LEN=1024
TICKET_MIN_TOKEN_DISTINCT=8
TICKET_MAX_PROJECT_LEN=253

# Exit statuses of ticket_verify (and of terminal-auth, which passes them on).
TICKET_OK=0
TICKET_MALFORMED=2
TICKET_INVALID=3
TICKET_EXPIRED=4
TICKET_TOO_FAR_AHEAD=5
TICKET_ERROR=6 # the check itself failed (e.g. openssl missing); refuse

# ticket_check_token TOKEN: succeeds when TOKEN is strong enough to key
# tickets; otherwise prints why (never the token) and fails.
ticket_check_token() {
	local LC_ALL=C
	local t=$1 i c n=0 word
	local -A seen=()
	if ((${#t} < TICKET_MIN_TOKEN_LEN)); then
		printf 'shorter than %d bytes\n' "$TICKET_MIN_TOKEN_LEN"
		return 1
	fi
	if ((${#t} > TICKET_MAX_TOKEN_LEN)); then
		printf 'longer than %d bytes\n' "$TICKET_MAX_TOKEN_LEN"
		return 1
	fi
	if [[ $t =~ [[:space:][:cntrl:]] ]]; then
		printf 'contains whitespace or control characters\n'
		return 1
	fi
	for ((i = 0; i < ${#t}; i++)); do
		c=${t:i:1}
		if [[ -z ${seen[$c]:-} ]]; then
			seen[$c]=1
			n=$((n + 1))
		fi
	done
	if ((n < TICKET_MIN_TOKEN_DISTINCT)); then
		printf 'fewer than %d distinct characters\n' "$TICKET_MIN_TOKEN_DISTINCT"
		return 1
	fi
	for word in changeme password secret example placeholder; do
		if [[ ${t,,} == *"$word"* ]]; then
			printf 'looks like a placeholder (contains "%s")\n' "$word"
			return 1
		fi
	done
	return 0
}

# ticket_check_project PROJECT: succeeds when PROJECT can be bound into a
# ticket (1..253 bytes, no control characters); otherwise prints why.
ticket_check_project() {
	local LC_ALL=C
	local p=$1
	if [[ -z $p ]]; then
		printf 'empty\n'
		return 1
	fi
	if ((${#p} > TICKET_MAX_PROJECT_LEN)); then
		printf 'longer than %d bytes\n' "$TICKET_MAX_PROJECT_LEN"
		return 1
	fi
	if [[ $p =~ [[:cntrl:]] ]]; then
		printf 'contains control characters\n'
		return 1
	fi
	return 0
}

# _ticket_hex: stdin bytes -> lowercase hex on stdout.
_ticket_hex() {
	od -An -v -tx1 | tr -d ' \n'
}

# _ticket_hex_escape HEX: prints HEX as \xHH escapes for printf %b.
_ticket_hex_escape() {
	local hex=$1 out='' i
	for ((i = 0; i < ${#hex}; i += 2)); do
		out+="\\x${hex:i:2}"
	done
	printf '%s' "$out"
}

# ticket_mac KEY MESSAGE: prints base64url(HMAC-SHA256(KEY, MESSAGE)) without
# padding.
ticket_mac() {
	# A failing openssl must fail the whole pipeline, whatever the caller set.
	local -
	set -o pipefail
	local LC_ALL=C
	local key=$1 msg=$2 khex ipad='' opad='' inner i b
	khex=$(printf '%s' "$key" | _ticket_hex)
	# RFC 2104: keys longer than the SHA-256 block (64 bytes) are hashed first.
	if ((${#khex} > 128)); then
		khex=$(printf '%s' "$key" | openssl dgst -sha256 -binary | _ticket_hex)
	fi
	for ((i = 0; i < 64; i++)); do
		b=0
		if ((2 * i < ${#khex})); then
			b=$((16#${khex:2*i:2}))
		fi
		printf -v ipad '%s\\x%02x' "$ipad" $((b ^ 0x36))
		printf -v opad '%s\\x%02x' "$opad" $((b ^ 0x5c))
	done
	inner=$({
		printf '%b' "$ipad"
		printf '%s' "$msg"
	} | openssl dgst -sha256 -binary | _ticket_hex)
	{
		printf '%b' "$opad"
		printf '%b' "$(_ticket_hex_escape "$inner")"
	} | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '='
}

# ticket_message PROJECT EXPIRY: prints the signed message (no trailing newline).
ticket_message() {
	printf 'fsa-terminal-v1\n%s\n%s' "$1" "$2"
}

# ticket_mint KEY PROJECT EXPIRY: prints a ticket for PROJECT valid until
# EXPIRY (Unix seconds). Fails on a weak key, a bad project or a bad expiry.
ticket_mint() {
	local key=$1 project=$2 expiry=$3 mac
	ticket_check_token "$key" >/dev/null || return 1
	ticket_check_project "$project" >/dev/null || return 1
	[[ $expiry =~ ^[1-9][0-9]{0,11}$ ]] || return 1
	mac=$(ticket_mac "$key" "$(ticket_message "$project" "$expiry")") || return 1
	printf 'v1.%s.%s\n' "$expiry" "$mac"
}

# _ticket_equal A B: compares two strings of equal, public length without
# stopping at the first difference: every byte is visited and the XOR of
# each pair is OR-ed together, so the work done does not depend on where
# (or whether) they differ.
_ticket_equal() {
	local LC_ALL=C
	local a=$1 b=$2 i x y diff=0
	((${#a} == ${#b})) || return 1
	for ((i = 0; i < ${#a}; i++)); do
		printf -v x '%d' "'${a:i:1}"
		printf -v y '%d' "'${b:i:1}"
		diff=$((diff | (x ^ y)))
	done
	((diff == 0))
}

# ticket_verify KEY PROJECT TICKET NOW: returns TICKET_OK when TICKET is a
# valid ticket for PROJECT at time NOW (Unix seconds), otherwise one of
# TICKET_MALFORMED, TICKET_INVALID, TICKET_EXPIRED, TICKET_TOO_FAR_AHEAD or
# TICKET_ERROR.
# The mac is checked before the expiry, so only authentic tickets are ever
# reported as expired.
ticket_verify() {
	local LC_ALL=C
	local key=$1 project=$2 ticket=$3 now=$4 expiry given want
	((${#ticket} <= 64)) || return "$TICKET_MALFORMED"
	[[ $ticket =~ ^v1\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})$ ]] || return "$TICKET_MALFORMED"
	expiry=${BASH_REMATCH[1]}
	given=${BASH_REMATCH[2]}
	[[ $now =~ ^[0-9]{1,12}$ ]] || return "$TICKET_MALFORMED"
	ticket_check_token "$key" >/dev/null || return "$TICKET_INVALID"
	ticket_check_project "$project" >/dev/null || return "$TICKET_INVALID"
	want=$(ticket_mac "$key" "$(ticket_message "$project" "$expiry")" 2>/dev/null) || return "$TICKET_ERROR"
	((${#want} == 43)) || return "$TICKET_ERROR"
	_ticket_equal "$want" "$given" || return "$TICKET_INVALID"
	((10#$now < 10#$expiry)) || return "$TICKET_EXPIRED"
	((10#$expiry - 10#$now <= TICKET_MAX_LIFETIME)) || return "$TICKET_TOO_FAR_AHEAD"
	return "$TICKET_OK"
}
