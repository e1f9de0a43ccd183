// Package ui serves fsad's web console: the single-page app built from
// clients/web into dist/ (committed, like generated code, so that `go build`
// needs no npm; `make web-check-build` proves it is up to date) and embedded
// in the binary.
//
// Handler serves it under /ui/:
//
//   - /ui/ and every path below it without a file extension answer index.html,
//     so the app's own routes (/ui/projects/<id>, /ui/settings) survive a
//     reload; a missing file with an extension is a 404.
//   - index.html is revalidated on every load (Cache-Control: no-cache);
//     assets requested with the content hash that index.html puts in their
//     query string (?v=<hash>) are immutable for a year; every response has a
//     strong ETag and honours If-None-Match.
//   - Every response carries a strict Content-Security-Policy: scripts, styles
//     and API calls from this origin only, frames only from https: hosts (the
//     project terminals), no plugins, no framing of the console itself; plus
//     nosniff and no-referrer.
//
// Only GET and HEAD are served.
package ui
