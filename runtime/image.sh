# shellcheck shell=bash disable=SC2034 # (variables here are used by build.sh and push.sh)
#
# image.sh — sourced by build.sh and push.sh: the image reference to build or
# push, from runtime/VERSION.
#
#   FSA_RUNTIME_IMAGE    repository (default: the one k8s/versions.go runs)
#   FSA_CONTAINER_TOOL   docker (default), podman or buildah

runtime_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

version=$(tr -d '[:space:]' <"$runtime_dir/VERSION")
if [[ ! $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	die "runtime/VERSION must look like v1.2.3, got '$version'"
fi
# Keep the default in step with k8s.RuntimeImageRepository (a test checks).
repository=${FSA_RUNTIME_IMAGE:-docker.io/fullstackagent/fullstack-web-runtime}
image="$repository:$version"
tool=${FSA_CONTAINER_TOOL:-docker}

# need_engine: fails with a clear message unless $tool can reach an engine.
need_engine() {
	command -v -- "$tool" >/dev/null || die "$tool is not installed (set FSA_CONTAINER_TOOL to docker, podman or buildah)"
	if ! "$tool" info >/dev/null 2>&1; then
		die "'$tool info' failed: no container engine is reachable here; building and pushing the runtime image needs one (a Docker daemon, or podman/buildah via FSA_CONTAINER_TOOL)"
	fi
}
