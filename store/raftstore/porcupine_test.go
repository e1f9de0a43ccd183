package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// This file checks linearizability with porcupine: concurrent clients read and
// compare-and-swap a few project records on a 3-node cluster while a nemesis (the test
// goroutine) cycles leader transfers, leader isolation and node restarts. Each project is its
// own register (the model is partitioned by key). The history records every operation's call
// and return time; a write whose outcome the client cannot know (timeout, lost leadership,
// closed node) returns at +inf and may or may not have taken effect.
//
// The short run is part of `go test`; FSA_PORCUPINE_CYCLES=N runs N fault cycles instead
// (make store-raftstore-porcupine-long). On a violation the porcupine visualization is written
// to a temporary HTML file whose path the failure message names.

const (
	porcupineShortCycles = 9
	porcupineKeys        = 4
	porcupineClients     = 6
	porcupineOpTimeout   = time.Second
	// porcupineProgress is how many successful operations each fault phase waits for, so that
	// clients run against every configuration.
	porcupineProgress = 15
)

// regInput is an operation on one register (project record).
type regInput struct {
	key   string
	write bool
	// For a write: the version the CAS requires and the value the client read at that version
	// (values are unique per write, so the value identifies the version), and the new value.
	expectVersion int64
	expectValue   string
	value         string
}

// outcome of a write.
type outcome uint8

const (
	writeOK        outcome = iota + 1 // committed at output.version
	writeConflict                     // failed its precondition: no effect
	writeNoEffect                     // refused before proposing (definite NotLeaderError): no effect
	writeAmbiguous                    // unknown: may or may not have committed
	readOK
)

type regOutput struct {
	outcome outcome
	// value and version read, or the version a write committed at.
	value   string
	version int64
}

// regState is a register: its value and version. version is -1 when the value comes from an
// ambiguous write whose revision the client never learned.
type regState struct {
	value   string
	version int64
}

func (s regState) matches(value string, version int64) bool {
	return s.value == value && (s.version < 0 || s.version == version)
}

// registerModel is a register per key with versioned compare-and-swap. It is nondeterministic
// only for ambiguous writes (applied or not).
var registerModel = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	PartitionEvent: func(history []porcupine.Event) [][]porcupine.Event {
		keyOf := map[int]string{}
		byKey := map[string][]porcupine.Event{}
		var keys []string
		for _, ev := range history {
			if ev.Kind == porcupine.CallEvent {
				keyOf[ev.Id] = ev.Value.(regInput).key
			}
			k := keyOf[ev.Id]
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], ev)
		}
		out := make([][]porcupine.Event, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{regState{}} },
	Step: func(state, input, output any) []any {
		st, in, out := state.(regState), input.(regInput), output.(regOutput)
		if !in.write {
			if st.matches(out.value, out.version) {
				return []any{regState{out.value, out.version}}
			}
			return nil
		}
		expected := st.matches(in.expectValue, in.expectVersion)
		switch out.outcome {
		case writeOK:
			if expected && out.version > in.expectVersion {
				return []any{regState{in.value, out.version}}
			}
			return nil
		case writeConflict:
			if st.value != in.expectValue {
				return []any{st}
			}
			return nil
		case writeNoEffect:
			return []any{st}
		case writeAmbiguous:
			if expected {
				return []any{st, regState{in.value, -1}}
			}
			return []any{st}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		if !in.write {
			return fmt.Sprintf("get(%s) → %q@%d", in.key, out.value, out.version)
		}
		res := map[outcome]string{writeOK: fmt.Sprintf("ok@%d", out.version), writeConflict: "conflict",
			writeNoEffect: "not leader", writeAmbiguous: "ambiguous"}[out.outcome]
		return fmt.Sprintf("cas(%s, %q@%d → %q) %s", in.key, in.expectValue, in.expectVersion, in.value, res)
	},
	DescribeState: func(state any) string {
		st := state.(regState)
		return fmt.Sprintf("%q@%d", st.value, st.version)
	},
}).ToModel()

// history collects operations from concurrent clients.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	// okWrites and okReads count successful operations, for the nemesis's progress waits.
	okWrites, okReads atomic.Int64
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in regInput, call int64, out regOutput, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

func (h *history) snapshot() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// porcupineRun drives clients and the nemesis over one cluster.
type porcupineRun struct {
	t *testing.T
	c *testCluster
	h *history
	// staleReads makes clients read with ViewStale on any node: the deliberately broken variant
	// the checker must reject.
	staleReads bool

	mu     sync.RWMutex // guards stores; the nemesis swaps entries when it stops and restarts nodes
	stores []*raftstore.Store
	nodes  []*testNode
}

func newPorcupineRun(t *testing.T, staleReads bool) *porcupineRun {
	c := newCluster(t, 3)
	c.Leader()
	r := &porcupineRun{t: t, c: c, h: &history{start: time.Now()}, staleReads: staleReads}
	r.nodes = c.running()
	for _, nd := range r.nodes {
		r.stores = append(r.stores, nd.store)
	}
	return r
}

// pick returns a random running node's store, or the one that believes it leads when
// leader is set and one does.
func (r *porcupineRun) pick(rng *rand.Rand, leader bool) *raftstore.Store {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if leader {
		for _, s := range r.stores {
			if s != nil && s.IsLeader() {
				return s
			}
		}
	}
	for {
		if s := r.stores[rng.IntN(len(r.stores))]; s != nil {
			return s
		}
	}
}

func (r *porcupineRun) read(ctx context.Context, s *raftstore.Store, key string, stale bool) (store.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, porcupineOpTimeout)
	defer cancel()
	var rec store.Record
	view := s.View
	if stale {
		view = s.ViewStale
	}
	err := view(ctx, func(sn store.Snapshot) error {
		var err error
		rec, err = sn.Get(store.KindProject, key)
		if errors.Is(err, store.ErrNotFound) {
			rec, err = store.Record{}, nil
		}
		return err
	})
	return rec, err
}

// client runs until ctx ends: half reads on a random node, half read-then-CAS through the
// node that believes it leads. A read that fails is not recorded (it has no effect).
func (r *porcupineRun) client(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprint("p", rng.IntN(porcupineKeys))
		write := rng.IntN(2) == 0
		s := r.pick(rng, write)
		call := r.h.now()
		rec, err := r.read(ctx, s, key, r.staleReads && !write)
		ret := r.h.now()
		if err != nil {
			continue
		}
		r.h.add(id, regInput{key: key}, call, regOutput{outcome: readOK, value: string(rec.Data), version: rec.Version}, ret)
		r.h.okReads.Add(1)
		if !write {
			continue
		}
		in := regInput{key: key, write: true, expectVersion: rec.Version, expectValue: string(rec.Data),
			value: "c" + strconv.Itoa(id) + "-" + strconv.Itoa(seq)}
		cctx, cancel := context.WithTimeout(ctx, porcupineOpTimeout)
		call = r.h.now()
		rev, err := s.Commit(cctx, store.Txn{
			Conds: []store.Cond{{Kind: store.KindProject, ID: key, Version: rec.Version}},
			Ops:   []store.Op{put(store.KindProject, key, in.value)},
		})
		ret = r.h.now()
		cancel()
		out := regOutput{version: rev}
		var nl *raftstore.NotLeaderError
		switch {
		case err == nil:
			out.outcome = writeOK
			r.h.okWrites.Add(1)
		case errors.Is(err, store.ErrConflict):
			out.outcome = writeConflict
		case errors.As(err, &nl) && !nl.Uncertain:
			out.outcome = writeNoEffect
		default: // timeout, lost leadership, closed node: it may have committed, at any later time
			out.outcome = writeAmbiguous
			ret = math.MaxInt64
		}
		r.h.add(id, in, call, out, ret)
	}
}

// progress waits until clients have completed porcupineProgress more reads and writes.
func (r *porcupineRun) progress(what string) {
	r.t.Helper()
	w, rd := r.h.okWrites.Load(), r.h.okReads.Load()
	waitFor(r.t, "client progress "+what, func() bool {
		return r.h.okWrites.Load() >= w+porcupineProgress && r.h.okReads.Load() >= rd+porcupineProgress
	})
}

func (r *porcupineRun) index(nd *testNode) int {
	for i, n := range r.nodes {
		if n == nd {
			return i
		}
	}
	r.t.Fatalf("unknown node %s", nd.id)
	return -1
}

// cycle runs one fault: a leader transfer, an isolated leader healed, or a node restart.
func (r *porcupineRun) cycle(ctx context.Context, i int) {
	r.t.Helper()
	c := r.c
	switch i % 3 {
	case 0:
		l := c.Leader()
		_ = l.store.TransferLeadership(ctx) // may fail if an election intervenes; the others still test
		c.Leader()
		r.progress("after a leader transfer")
	case 1:
		old := c.Leader()
		c.Disconnect(old)
		waitFor(r.t, "a new leader", func() bool { l := c.Leader(); return l != old })
		r.progress("while the old leader is isolated")
		c.Heal()
		c.Leader()
		r.progress("after healing")
	case 2:
		nd := c.Leader() // restart the leader one time, a follower the next
		if (i/3)%2 == 1 {
			nd = c.Followers()[0]
		}
		idx := r.index(nd)
		r.mu.Lock()
		r.stores[idx] = nil
		c.stop(nd)
		r.mu.Unlock()
		c.Leader()
		r.progress("with a node down")
		r.mu.Lock()
		c.restart(nd)
		r.stores[idx] = nd.store
		r.mu.Unlock()
		c.Leader()
		r.progress("after a restart")
	}
}

// run starts the clients, runs cycles faults (or until done reports true after a cycle), stops
// the clients and returns the history.
func (r *porcupineRun) run(cycles int, done func() bool) []porcupine.Operation {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for id := 0; id < porcupineClients; id++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.client(ctx, id) }()
	}
	r.progress("before the first fault")
	for i := 0; i < cycles; i++ {
		r.cycle(ctx, i)
		if done != nil && done() {
			break
		}
	}
	cancel()
	wg.Wait()
	return r.h.snapshot()
}

func porcupineCycles(t *testing.T) int {
	v := os.Getenv("FSA_PORCUPINE_CYCLES")
	if v == "" {
		return porcupineShortCycles
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "FSA_PORCUPINE_CYCLES")
	return n
}

// check runs porcupine and, on anything but Ok, writes the visualization to a temporary file.
func check(t *testing.T, ops []porcupine.Operation) (porcupine.CheckResult, string) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(registerModel, ops, 2*time.Minute)
	if res == porcupine.Ok {
		return res, ""
	}
	f, err := os.CreateTemp("", "fsa-porcupine-*.html")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, porcupine.VisualizePath(registerModel, info, f.Name()))
	return res, f.Name()
}

func summarize(ops []porcupine.Operation) string {
	n := map[outcome]int{}
	for _, op := range ops {
		n[op.Output.(regOutput).outcome]++
	}
	return fmt.Sprintf("%d operations: %d reads, %d writes ok, %d conflicts, %d refused, %d ambiguous",
		len(ops), n[readOK], n[writeOK], n[writeConflict], n[writeNoEffect], n[writeAmbiguous])
}

// TestPorcupineLinearizable checks that linearizable reads (View) and CAS commits form a
// linearizable history per project through leader transfers, isolated leaders and restarts.
func TestPorcupineLinearizable(t *testing.T) {
	cycles := porcupineCycles(t)
	r := newPorcupineRun(t, false)
	ops := r.run(cycles, nil)
	t.Logf("%d fault cycles, %s", cycles, summarize(ops))
	res, path := check(t, ops)
	require.Equal(t, porcupine.Ok, res, "history is not linearizable; visualization: %s", path)
}

// TestPorcupineCatchesStaleReads shows the check can fail: reads served by ViewStale on any
// node (followers, an isolated old leader) are not linearizable, and porcupine must say so
// within a few fault cycles.
func TestPorcupineCatchesStaleReads(t *testing.T) {
	r := newPorcupineRun(t, true)
	var (
		res  porcupine.CheckResult
		path string
	)
	ops := r.run(12, func() bool {
		res, path = check(t, r.h.snapshot())
		return res == porcupine.Illegal
	})
	t.Logf("%s; result %s; visualization: %s", summarize(ops), res, path)
	require.Equal(t, porcupine.Illegal, res, "stale reads went undetected")
	require.NotEmpty(t, path)
	_ = os.Remove(path)
}

// TestRegisterModel pins the model on hand-made histories, including ambiguous writes.
func TestRegisterModel(t *testing.T) {
	rd := func(c int, call, ret int64, v string, ver int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: regInput{key: "k"}, Call: call, Return: ret,
			Output: regOutput{outcome: readOK, value: v, version: ver}}
	}
	cas := func(c int, call, ret int64, expV string, expVer int64, v string, o outcome, ver int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: regInput{key: "k", write: true, expectValue: expV, expectVersion: expVer, value: v},
			Call: call, Return: ret, Output: regOutput{outcome: o, version: ver}}
	}
	inf := int64(math.MaxInt64)
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"write then read", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeOK, 5), rd(1, 2, 3, "a", 5)}, porcupine.Ok},
		{"stale read after ack", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeOK, 5), rd(1, 2, 3, "", 0)}, porcupine.Illegal},
		{"wrong version", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeOK, 5), rd(1, 2, 3, "a", 6)}, porcupine.Illegal},
		{"ambiguous applied", []porcupine.Operation{cas(0, 0, inf, "", 0, "a", writeAmbiguous, 0), rd(1, 2, 3, "a", 7), rd(1, 4, 5, "a", 7)}, porcupine.Ok},
		{"ambiguous not applied", []porcupine.Operation{cas(0, 0, inf, "", 0, "a", writeAmbiguous, 0), rd(1, 2, 3, "", 0)}, porcupine.Ok},
		{"ambiguous applied late", []porcupine.Operation{cas(0, 0, inf, "", 0, "a", writeAmbiguous, 0), rd(1, 2, 3, "", 0), rd(1, 4, 5, "a", 9)}, porcupine.Ok},
		{"ambiguous cannot unapply", []porcupine.Operation{cas(0, 0, inf, "", 0, "a", writeAmbiguous, 0), rd(1, 2, 3, "a", 9), rd(1, 4, 5, "", 0)}, porcupine.Illegal},
		{"refused write applied", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeNoEffect, 0), rd(1, 2, 3, "a", 4)}, porcupine.Illegal},
		{"conflict on matching value", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeConflict, 0)}, porcupine.Illegal},
		{"conflict after a write", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeOK, 3), cas(1, 2, 3, "", 0, "b", writeConflict, 0)}, porcupine.Ok},
		{"lost update", []porcupine.Operation{cas(0, 0, 1, "", 0, "a", writeOK, 3), cas(1, 2, 3, "", 0, "b", writeOK, 4)}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, porcupine.CheckOperationsTimeout(registerModel, tt.ops, 10*time.Second))
		})
	}
}
