#!/usr/bin/env bash
#
# push.sh — pushes <repository>:<runtime/VERSION>, built by build.sh.
# Tags are immutable: it refuses to overwrite a tag that the registry already
# has unless FSA_PUSH_OVERWRITE=1. See image.sh for settings.
set -euo pipefail
# shellcheck source=image.sh
. "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/image.sh"

need_engine
if [[ ${FSA_PUSH_OVERWRITE:-} != 1 ]] && "$tool" manifest inspect "$image" >/dev/null 2>&1; then
	die "$image already exists in the registry; bump runtime/VERSION (and k8s.RuntimeImageTag) instead"
fi
"$tool" push "$image"
printf '%s\n' "$image"
