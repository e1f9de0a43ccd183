// Package runtime is the fsa sandbox runtime image: the Dockerfile, the
// scripts that run inside every sandbox, and the tests that check them
// without a container engine.
//
// The image runs tini as PID 1, which runs entrypoint.sh, which refuses to
// start unless TTYD_ACCESS_TOKEN is set and strong and FSA_PROJECT names the
// project, and then becomes ttyd on port 7681. ttyd runs terminal-auth for
// every browser connection; terminal-auth starts the login shell only for a
// valid short-lived ticket (package [github.com/fullstackagent/fsa/runtime/ticket]
// mints them; ticket.sh verifies them in bash) and otherwise exits non-zero
// at once. README.md documents the scheme, the image, and how to build and
// roll out a new version.
//
// This package has no Go API; its tests run the real scripts with bash in
// temporary roots, cross-check the Go and bash ticket code, run shellcheck
// on every script, check the Dockerfile, and check that runtime/VERSION is
// the tag k8s/versions.go deploys.
package runtime
