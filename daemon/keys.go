package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fullstackagent/fsa/fsa"
)

// Secrets at rest: fsad seals every secret value with the key-encryption keys (KEKs) of its
// configuration (fsa.WithKeys), refuses to start without them or without the one its data needs,
// and its leader re-seals in the background what is in the clear or under a retired primary.

// KeysConfig is where the key-encryption keys come from: never a flag (a flag shows in the
// process list), only a file or the environment.
type KeysConfig struct {
	// Keyring holds the KEKs: the primary wraps new data keys, the others are kept to read what
	// they wrapped. Run refuses to start without one.
	Keyring *fsa.Keyring
	// ResealRate bounds the leader's background re-sealing, in records per second
	// (DefaultResealRate when 0).
	ResealRate float64
	// ScrubCheck is how often a cluster node with a scrub pending checks whether its state is
	// all sealed under the primary key, after which it scrubs its files (DefaultScrubCheck
	// when 0).
	ScrubCheck time.Duration
}

// Names of the keyring's sources.
const (
	// EnvKEK is the environment variable holding the keyring itself: "<id>:<base64url key>"
	// entries, the primary first, separated by newlines or commas.
	EnvKEK = "FSA_KEK"
	// FlagKEKFile is the flag naming a file in the same format (also FSA_KEK_FILE).
	FlagKEKFile = "kek-file"
	// DefaultResealRate is the default re-sealing rate, records per second.
	DefaultResealRate = 200
	// DefaultScrubCheck is the default of KeysConfig.ScrubCheck.
	DefaultScrubCheck = 10 * time.Second
)

// scrubbedFile, in the data directory of a cluster node, holds the id of the primary key under
// which the node last scrubbed its files. A node started with another primary (or for the first
// time with encryption: no file) may hold values in the clear or under the old primary in its
// Raft log, snapshots and free pages, even if its state was re-sealed while it ran the old
// configuration: it scrubs once its state is all sealed under the primary.
const scrubbedFile = "secrets-scrubbed"

// resealRetry is the wait before re-sealing again after a failure.
const resealRetry = 5 * time.Second

// errNoKeys is Run's refusal to start without a keyring.
var errNoKeys = errors.New("no key-encryption key: fsad seals secrets at rest and needs one; put a keyring in " +
	EnvKEK + " or in a file named by --" + FlagKEKFile + " (generate one with `fsad kek generate`; see docs/operations.md, Secrets at rest)")

// loadKeyring reads the keyring from the file path (when set) or else from the environment
// text env; both empty is no keyring (nil, nil). Errors never quote key material.
func loadKeyring(path, env string) (*fsa.Keyring, error) {
	text, from := env, EnvKEK
	if path != "" {
		if env != "" {
			return nil, fmt.Errorf("both %s and --%s are set: give one", EnvKEK, FlagKEKFile)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", FlagKEKFile, err)
		}
		if st.Mode().Perm()&0o007 != 0 {
			return nil, fmt.Errorf("--%s %s: readable by others (mode %v): make it 0600, 0400 or 0440", FlagKEKFile, path, st.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", FlagKEKFile, err)
		}
		text, from = string(b), "--"+FlagKEKFile+" "+path
	}
	if strings.TrimSpace(text) == "" {
		if path != "" {
			return nil, fmt.Errorf("%s: empty keyring", from)
		}
		return nil, nil
	}
	kr, err := fsa.ParseKeyring(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return kr, nil
}

// checkKeys refuses to serve when the node's data needs a KEK it does not hold (or holds under
// the right id but a different key): nothing is written, so nothing is lost, and the node
// starts once given the right keyring.
func (d *daemon) checkKeys(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rep, err := d.client.CheckKeys(ctx)
	if err != nil {
		return fmt.Errorf("refusing to serve: %w (start fsad with the keyring the data was sealed with; see docs/operations.md, Secrets at rest)", err)
	}
	primary := d.cfg.Keys.Keyring.PrimaryKeyID()
	d.log.Info("secrets at rest", "primary_key", primary, "keys", d.cfg.Keys.Keyring.KeyIDs(),
		"records", rep.Records, "in_clear", rep.Plain, "to_reseal", rep.Pending(primary))
	if d.rs != nil {
		b, err := os.ReadFile(filepath.Join(d.cfg.DataDir, scrubbedFile))
		switch {
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("read %s: %w", scrubbedFile, err)
		case err == nil && strings.TrimSpace(string(b)) == primary:
		case err != nil && rep.Records == 0:
			// A new node: nothing of the past to scrub.
			if err := writeScrubbed(d.cfg.DataDir, primary); err != nil {
				return err
			}
		default:
			d.scrubPending = true
		}
	}
	return nil
}

// writeScrubbed records that the node's files hold nothing older than the primary key's time.
func writeScrubbed(dir, primary string) error {
	path := filepath.Join(dir, scrubbedFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record scrub: %w", err)
	}
	_, err = f.WriteString(primary + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("record scrub: %w", err)
	}
	return nil
}

// scrubWhenSealed runs on a cluster node started with a scrub pending (see scrubbedFile): once
// the node's local state holds no secret value in the clear or under another key than the
// primary (the leader's re-seal has reached it), it scrubs the node's files
// (raftstore.Store.Scrub: the Raft log and snapshots from before, the state database's change
// history and free pages) and records it. It returns when done or when ctx ends.
func (d *daemon) scrubWhenSealed(ctx context.Context) {
	if !d.scrubPending {
		return
	}
	log := d.log.With("component", "scrub")
	every := d.cfg.Keys.ScrubCheck
	if every <= 0 {
		every = DefaultScrubCheck
	}
	primary := d.cfg.Keys.Keyring.PrimaryKeyID()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := d.client.CheckKeys(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("checking secret values before the scrub failed; retrying", "err", err)
			}
			continue
		}
		if rep.Pending(primary) > 0 {
			continue
		}
		start := time.Now()
		if err := d.rs.Scrub(ctx); err != nil {
			if ctx.Err() == nil {
				log.Warn("scrub failed; retrying", "err", err)
			}
			continue
		}
		if err := writeScrubbed(d.cfg.DataDir, primary); err != nil {
			log.Warn("scrubbed, but not recorded: the next start scrubs again", "err", err)
		}
		log.Info("old secret values scrubbed from this node's files", "primary_key", primary, "took", time.Since(start))
		return
	}
}

// leaderWork is the leader's work: reconcile, and beside it the re-sealing of secret values in
// the clear or under another KEK than the primary, both under fence. Re-sealing ends when
// done (or with reconcile); ErrFenced from either ends both.
func (d *daemon) leaderWork(ctx context.Context, fence uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var resealErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if resealErr = d.reseal(ctx, fence); resealErr != nil {
			cancel() // fenced: the reconcile below is fenced too
		}
	}()
	err := d.reconcile(ctx, fence)
	cancel()
	wg.Wait()
	if err == nil && resealErr != nil {
		err = resealErr
	}
	return err
}

// reseal runs fsa.Client.Reseal until it completes, paced by Keys.ResealRate, retrying after
// other failures. It returns nil when done or ctx ends, and an error wrapping fsa.ErrFenced
// when fence is stale.
func (d *daemon) reseal(ctx context.Context, fence uint64) error {
	log := d.log.With("component", "reseal")
	rate := d.cfg.Keys.ResealRate
	if rate <= 0 {
		rate = DefaultResealRate
	}
	batch := max(1, min(64, int(rate)))
	opts := fsa.ResealOptions{Batch: batch, Pause: time.Duration(float64(batch) / rate * float64(time.Second))}
	total := 0
	for {
		n, err := d.client.Reseal(ctx, fence, opts)
		total += n
		switch {
		case err == nil:
			if total > 0 {
				log.Info("secret values re-sealed under the primary key", "records", total, "primary_key", d.cfg.Keys.Keyring.PrimaryKeyID())
			}
			return nil
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, fsa.ErrFenced):
			return err
		}
		log.Warn("re-sealing failed; retrying", "err", err, "done", total, "after", resealRetry)
		t := time.NewTimer(resealRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
