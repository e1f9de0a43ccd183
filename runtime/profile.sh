# shellcheck shell=bash
#
# profile.sh — installed as /etc/profile.d/fsa.sh: sourced by every login
# shell of the sandbox (terminal-auth starts the terminal's shell with -l).
#
# Live variables are secret values that reach a running sandbox without a
# restart: DATABASE_URL of a database that became ready after the sandbox
# started. The pod mounts them from the sandbox's Secret, one file per
# variable, in FSA_LIVE_ENV_DIR (default /run/fsa/env); Kubernetes updates the
# files in place when the Secret changes (within about a minute). This exports
# each of them now and again before every prompt, so a terminal that was open
# before the value existed has it at its next prompt. The same variables are in
# the container's environment from the pod's next start.
#
# Nothing here prints a value.

[ -n "${BASH_VERSION:-}" ] || return 0

fsa_live_env() {
	local dir=${FSA_LIVE_ENV_DIR:-/run/fsa/env} f name value
	[[ -d $dir ]] || return 0
	for f in "$dir"/*; do
		[[ -f $f && -r $f ]] || continue
		name=${f##*/}
		[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
		value=
		IFS= read -r -d '' value <"$f" || true
		if [[ ${!name-} != "$value" ]]; then
			export "$name=$value"
		fi
	done
}

fsa_live_env
case ";${PROMPT_COMMAND:-};" in
*";fsa_live_env;"*) ;;
*) PROMPT_COMMAND="fsa_live_env${PROMPT_COMMAND:+;$PROMPT_COMMAND}" ;;
esac
