// Package tsfrontend holds the end-to-end test of examples/ts-frontend, a
// minimal TypeScript page on the fsa API (see README.md). The page itself is
// TypeScript (src/main.ts) bundled with esbuild; this package has no Go API.
//
// The test (e2e_test.go, part of `go test ./...`, skipped under -short)
// builds the page, starts a real single-node fsad and the local Kubernetes
// control plane, serves the page with /fsa.v1.* reverse-proxied to fsad (fsad
// sends no CORS headers, so page and API share one origin), and drives
// Debian's Chromium with playwright-core: sign up, create a project, see it
// reach RUNNING without a reload.
package tsfrontend
