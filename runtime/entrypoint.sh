#!/usr/bin/env bash
#
# entrypoint.sh — starts an fsa sandbox (run by tini as PID 1's child).
#
# It refuses to start unless the terminal can be protected: TTYD_ACCESS_TOKEN
# must be set and strong, FSA_PROJECT must name the project. Then it prepares
# the home directory (the StatefulSet's volume, empty on first start) and
# replaces itself with ttyd on port 7681, which runs terminal-auth for every
# browser connection; terminal-auth lets a session in only with a valid
# ticket (see ticket.sh and runtime/README.md).
#
# Environment:
#   TTYD_ACCESS_TOKEN  the project's access token (required; never printed)
#   FSA_PROJECT        the project name (required)
#   HOME               the home directory (default /home/agent)
#   FSA_TTYD_BIN       the ttyd binary (default: ttyd on PATH)
#   FSA_SKEL_DIR       files copied into an empty home (default /etc/skel)
#   FSA_ALLOW_ROOT=1   allow running as root (the image runs as uid 1001)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=ticket.sh
. "$here/ticket.sh"

readonly TTYD_PORT=7681

log() { printf 'fsa-entrypoint: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 78 # EX_CONFIG
}

if [[ -z ${TTYD_ACCESS_TOKEN:-} ]]; then
	die "TTYD_ACCESS_TOKEN is not set; refusing to start an unprotected terminal"
fi
if ! why=$(ticket_check_token "$TTYD_ACCESS_TOKEN"); then
	die "TTYD_ACCESS_TOKEN is too weak ($why); refusing to start"
fi
if ! why=$(ticket_check_project "${FSA_PROJECT:-}"); then
	die "FSA_PROJECT is not usable ($why); refusing to start"
fi
if [[ $(id -u) == 0 && ${FSA_ALLOW_ROOT:-} != 1 ]]; then
	die "running as root; the sandbox runs as uid 1001 (set FSA_ALLOW_ROOT=1 to override)"
fi

home=${HOME:-/home/agent}
if [[ ! -d $home || ! -w $home ]]; then
	die "home directory $home is missing or not writable by uid $(id -u)"
fi
# The volume hides the image's home directory: seed it from skel, never
# overwriting what the user already has.
skel=${FSA_SKEL_DIR:-/etc/skel}
if [[ -d $skel ]]; then
	for f in "$skel"/.[!.]* "$skel"/*; do
		[[ -e $f ]] || continue
		[[ -e $home/${f##*/} ]] || cp -a -- "$f" "$home/"
	done
fi
export HOME=$home
cd -- "$home"

ttyd=${FSA_TTYD_BIN:-ttyd}
if ! command -v -- "$ttyd" >/dev/null; then
	die "ttyd not found ($ttyd)"
fi

log "starting ttyd on :$TTYD_PORT for project $FSA_PROJECT"
# --url-arg passes ?arg=<ticket> to terminal-auth; --writable lets the
# authenticated user type. No option here carries a secret: everything after
# the command name ends up in the browser or in the process table.
exec "$ttyd" \
	--port "$TTYD_PORT" \
	--writable \
	--url-arg \
	--terminal-type xterm-256color \
	--client-option disableLeaveAlert=true \
	"$here/terminal-auth"
