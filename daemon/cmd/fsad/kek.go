package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/fullstackagent/fsa/fsa"
)

// runKEK is `fsad kek generate [--id ID]`: it prints a new key-encryption key as a keyring
// line ("<id>:<base64url key>") for the file named by --kek-file or for FSA_KEK.
func runKEK(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fsad kek", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprint(stderr, `Usage: fsad kek generate [--id ID]

Prints a new key-encryption key (32 random bytes) as one keyring line, "<id>:<base64url key>",
on standard output. Put it first in the keyring (file of --kek-file, mode 0600, or FSA_KEK) to
make it the primary; keep older keys below it until the leader has re-sealed everything
(docs/operations.md, Secrets at rest).

Flags:
`)
		fs.PrintDefaults()
	}
	id := fs.String("id", "k"+time.Now().UTC().Format("20060102150405"), "id of the key (letters, digits, '-', '_', '.')")
	if len(args) == 0 || args[0] != "generate" {
		fs.Usage()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "fsad kek: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	k, err := fsa.GenerateKEK(*id)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "fsad kek:", err)
		return 2
	}
	_, _ = fmt.Fprintln(stdout, k.Encode())
	return 0
}
