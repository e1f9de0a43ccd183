#!/usr/bin/env bash
#
# build.sh — builds the sandbox runtime image as <repository>:<runtime/VERSION>
# and prints the reference. Extra arguments go to the build command (for
# example --no-cache or --platform linux/amd64). See image.sh for settings.
set -euo pipefail
# shellcheck source=image.sh
. "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/image.sh"

need_engine
"$tool" build \
	--build-arg "FSA_VERSION=$version" \
	--tag "$image" \
	--file "$runtime_dir/Dockerfile" \
	"$@" \
	"$runtime_dir"
printf '%s\n' "$image"
