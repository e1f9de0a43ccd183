// Package web holds the end-to-end test of the fsa web console: the
// TypeScript single-page app in this folder (src/, built by build.mjs into
// daemon/ui/dist, which fsad embeds and serves at /ui).
//
// The test builds fsad, runs it on one node against the local Kubernetes
// control plane of internal/devenv/k8stest, and drives Debian's Chromium
// (/usr/bin/chromium, or $FSA_CHROMIUM) with playwright-core (e2e/console.mjs) through sign-up,
// kubeconfig, project creation with live status, details, Explain, the env
// editor, the terminal iframe and deletion. It needs `make web-deps` (npm ci)
// and `apt-get install -y chromium`; without them it fails and says so.
// Screenshots go to $FSA_TEST_ARTIFACTS/web-e2e, by default
// .cache/artifacts/web-e2e in the repository (not committed).
package web
