package api

import (
	"context"
	"runtime"

	"golang.org/x/crypto/bcrypt"
)

// hashSlots bounds concurrent bcrypt work to half the CPUs (at least one). bcrypt is meant to
// be slow; a burst of sign-ups or logins must not starve the rest of the process — above all
// Raft's heartbeats, whose delay costs the cluster its leader.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// withHashSlot runs fn once a hashing slot is free, or returns ctx's error.
func withHashSlot(ctx context.Context, fn func() error) error {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-hashSlots }()
	return fn()
}

func hashPassword(ctx context.Context, password string, cost int) (hash []byte, err error) {
	err = withHashSlot(ctx, func() error {
		hash, err = bcrypt.GenerateFromPassword([]byte(password), cost)
		return err
	})
	return hash, err
}

// passwordMatches reports whether password matches hash (false also when ctx ended first).
func passwordMatches(ctx context.Context, hash []byte, password string) bool {
	return withHashSlot(ctx, func() error { return bcrypt.CompareHashAndPassword(hash, []byte(password)) }) == nil
}
