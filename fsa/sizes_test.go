package fsa_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

func TestParseSizeClass(t *testing.T) {
	name, s, err := fsa.ParseSizeClass("small=cpu:500m,memory:1Gi,home:5Gi,db:1Gi")
	require.NoError(t, err)
	assert.Equal(t, "small", name)
	assert.Equal(t, fsa.Size{Class: "small", CPU: 500, CPURequest: 200, Memory: 1 << 30, MemoryRequest: 512 << 20,
		Home: 5 << 30, Database: 1 << 30, DatabaseCPU: 1000, DatabaseMemory: 1 << 30}, s)
	assert.Equal(t, "cpu 500m, memory 1Gi, home 5Gi, db 1Gi", s.String())

	_, s, err = fsa.ParseSizeClass("tiny=cpu:100m,memory:128Mi")
	require.NoError(t, err)
	assert.Equal(t, int64(100), s.CPURequest, "a request is lowered to its limit")
	assert.Equal(t, int64(128<<20), s.MemoryRequest)

	for _, bad := range []string{"", "=cpu:1", "Big=cpu:1", "x=cpu", "x=cpu:1,cpu:2", "x=gpu:1", "x=cpu:-1", "x=memory:lots", "x=home:1Gi;db:1Gi"} {
		_, _, err := fsa.ParseSizeClass(bad)
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, "%q", bad)
	}
}

func TestSizePolicyValidate(t *testing.T) {
	_, small, err := fsa.ParseSizeClass("small=cpu:500m,memory:1Gi,home:5Gi,db:1Gi")
	require.NoError(t, err)
	require.NoError(t, fsa.SizePolicy{}.Validate(), "the built-in class alone")
	require.NoError(t, fsa.SizePolicy{Classes: map[string]fsa.Size{"small": small}}.Validate(), "one class is the default")
	max, err := fsa.ParseSizeBounds("cpu:1,home:4Gi")
	require.NoError(t, err)
	for name, p := range map[string]fsa.SizePolicy{
		"unknown default":   {Classes: map[string]fsa.Size{"small": small}, Default: "large"},
		"class above bound": {Classes: map[string]fsa.Size{"small": small}, Max: max},
		"min above max":     {Classes: map[string]fsa.Size{"small": small}, Min: fsa.Size{CPU: 2000}, Max: fsa.Size{CPU: 1000}},
		"bound absurd":      {Max: fsa.Size{Home: 1 << 60}},
	} {
		require.ErrorIs(t, p.Validate(), fsa.ErrInvalidArgument, name)
	}
	_, err = fsa.ParseSizeBounds("cpu:lots")
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
}

func sizedClient(t *testing.T, e *env, opts ...fsa.Option) *fsa.Client {
	t.Helper()
	_, small, err := fsa.ParseSizeClass("small=cpu:500m,memory:1Gi,home:5Gi,db:1Gi")
	require.NoError(t, err)
	min, err := fsa.ParseSizeBounds("cpu:100m,home:1Gi")
	require.NoError(t, err)
	max, err := fsa.ParseSizeBounds("cpu:4,memory:8Gi,home:100Gi,db:50Gi")
	require.NoError(t, err)
	p := fsa.SizePolicy{Classes: map[string]fsa.Size{"small": small, "standard": fsa.BuiltinSize}, Default: "small", Min: min, Max: max}
	require.NoError(t, p.Validate())
	return e.client(append(opts, fsa.WithSizes(p))...)
}

func TestCreateWithSize(t *testing.T) {
	e := newEnv(t)
	c := sizedClient(t, e)
	p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "default"})
	require.NoError(t, err)
	assert.Equal(t, "small", p.Size.Class)
	assert.Equal(t, int64(5<<30), p.Size.Home)

	p, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "big", Size: fsa.SizeSpec{Class: "standard", CPU: "3", Home: "20Gi"}})
	require.NoError(t, err)
	got, err := c.GetProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.Size{Class: "standard", CPU: 3000, CPURequest: 200, Memory: 4 << 30, MemoryRequest: 512 << 20,
		Home: 20 << 30, Database: 3 << 30, DatabaseCPU: 1000, DatabaseMemory: 1 << 30}, *got.Size, "stored")

	p, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "low", Size: fsa.SizeSpec{CPU: "150m"}})
	require.NoError(t, err)
	assert.Equal(t, int64(150), p.Size.CPURequest, "the request follows a limit below it")

	before := e.revision()
	for name, sz := range map[string]fsa.SizeSpec{
		"unknown class":   {Class: "huge"},
		"negative":        {CPU: "-1"},
		"not a quantity":  {Memory: "lots"},
		"absurd":          {Home: "1Ei"},
		"above the bound": {CPU: "5"},
		"below the bound": {Home: "100Mi"},
		"too long":        {Database: "1111111111111111111111111111111111Gi"},
	} {
		_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "bad", Size: sz})
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, name)
	}
	_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "bad", Size: fsa.SizeSpec{CPU: "5"}})
	assert.Contains(t, err.Error(), "cpu 5 is outside the allowed 100m to 4")
	require.Equal(t, before, e.revision(), "nothing stored")
}

func TestResizeProject(t *testing.T) {
	e := newEnv(t)
	c := sizedClient(t, e)
	p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "p"})
	require.NoError(t, err)

	_, err = c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{CPU: "1"})
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "not stopped")
	assert.Contains(t, err.Error(), "stop it before")

	e.observe(p, fsa.StatusRunning)
	// A shrink is refused whatever the state: the input's fault, before the state's.
	_, err = c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{Home: "4Gi"})
	require.ErrorIs(t, err, fsa.ErrInvalidArgument, "a running project's shrink")
	assert.Contains(t, err.Error(), "cannot shrink from 5Gi to 4Gi")
	_, err = c.StopProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	p = e.observe(p, fsa.StatusStopped)
	require.Equal(t, fsa.StatusStopped, p.Status)

	before := e.revision()
	for name, tc := range map[string]struct {
		spec fsa.SizeSpec
		want error
		says string
	}{
		"nothing":        {fsa.SizeSpec{}, fsa.ErrInvalidArgument, "no size"},
		"home shrink":    {fsa.SizeSpec{Home: "4Gi"}, fsa.ErrInvalidArgument, "cannot shrink from 5Gi to 4Gi"},
		"unknown class":  {fsa.SizeSpec{Class: "huge"}, fsa.ErrInvalidArgument, "unknown size class"},
		"another user's": {fsa.SizeSpec{CPU: "1"}, fsa.ErrNotFound, ""},
	} {
		user := e.alice.ID
		if name == "another user's" {
			user = e.bob.ID
		}
		_, err := c.ResizeProject(e.ctx, user, p.ID, tc.spec)
		require.ErrorIs(t, err, tc.want, name)
		assert.Contains(t, err.Error(), tc.says, name)
	}
	require.Equal(t, before, e.revision(), "nothing stored")

	r, err := c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{CPU: "2", Home: "8Gi", Database: "2Gi"})
	require.NoError(t, err)
	assert.Equal(t, int64(2000), r.Size.CPU)
	assert.Equal(t, int64(8<<30), r.Size.Home)
	assert.Equal(t, "Resized", r.Sandbox.Conditions[len(r.Sandbox.Conditions)-1].Reason)
	assert.Equal(t, fsa.StatusStopped, r.Sandbox.Status)
	got, err := c.GetProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, *r.Size, *got.Size)

	_, err = c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{Database: "1Gi"})
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "the database volume cannot shrink from 2Gi to 1Gi")

	// The same size again changes nothing.
	before = e.revision()
	_, err = c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{CPU: "2"})
	require.NoError(t, err)
	require.Equal(t, before, e.revision())

	// Storage counts at once; CPU and memory once started.
	q, err := c.Quota(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.Usage{Projects: 1, Storage: 10 << 30}, q.Usage)
	_, err = c.StartProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	q, err = c.Quota(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.Usage{Projects: 1, Running: 1, CPU: 3000, Memory: 2 << 30, Storage: 10 << 30}, q.Usage)
}

func TestResizeWithinQuota(t *testing.T) {
	e := newEnv(t)
	c := sizedClient(t, e, fsa.WithDefaultLimits(fsa.Limits{Storage: 10 << 30}))
	p, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "p"}) // 6Gi
	require.NoError(t, err)
	e.observe(p, fsa.StatusRunning)
	_, err = c.StopProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	e.observe(p, fsa.StatusStopped)
	before := e.revision()
	_, err = c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{Home: "10Gi"})
	require.ErrorIs(t, err, fsa.ErrResourceExhausted)
	assert.Contains(t, err.Error(), "your projects hold 6Gi of your 10Gi storage (stopped ones included) and this needs 5Gi more")
	require.Equal(t, before, e.revision())
	_, err = c.ResizeProject(e.ctx, e.alice.ID, p.ID, fsa.SizeSpec{Home: "9Gi"})
	require.NoError(t, err)
}

// TestSizeLimitsUnderConcurrency: 50 concurrent creations by a user one project below a limit
// of CPU, memory or storage: exactly one succeeds, on every store.
func TestSizeLimitsUnderConcurrency(t *testing.T) {
	s := fsa.BuiltinSize
	for _, tc := range []struct {
		name   string
		limits fsa.Limits
		says   string
	}{
		{"cpu", fsa.Limits{CPU: 5 * (s.CPU + s.DatabaseCPU)}, "cpu limit reached: your running projects use 12 CPU of your 15"},
		{"memory", fsa.Limits{Memory: 5 * (s.Memory + s.DatabaseMemory)}, "memory limit reached: your running projects use 20Gi of your 25Gi"},
		{"storage", fsa.Limits{Storage: 5 * (s.Home + s.Database)}, "storage limit reached: your projects hold 65Gi of your 65Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, st store.Store) {
				e := newEnvOn(t, st)
				c := e.client(fsa.WithDefaultLimits(tc.limits))
				for i := 0; i < 4; i++ {
					_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: fmt.Sprint("p", i)})
					require.NoError(t, err)
				}
				const n = 50
				errs := make(chan error, n)
				var start sync.WaitGroup
				start.Add(1)
				for i := 0; i < n; i++ {
					go func() {
						start.Wait()
						_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: fmt.Sprint("race-", i)})
						errs <- err
					}()
				}
				start.Done()
				wins := 0
				for i := 0; i < n; i++ {
					err := <-errs
					if err == nil {
						wins++
						continue
					}
					require.ErrorIs(t, err, fsa.ErrResourceExhausted)
					require.Contains(t, err.Error(), tc.name+" limit reached")
				}
				require.Equal(t, 1, wins)
				_, err := c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "one more"})
				require.ErrorIs(t, err, fsa.ErrResourceExhausted)
				q, err := c.Quota(e.ctx, e.alice.ID)
				require.NoError(t, err)
				assert.Equal(t, builtinUse(5, 5), q.Usage)
			})
		})
	}
}

func TestSetUserLimitsBelowSizedUse(t *testing.T) {
	e := newEnv(t)
	e.project("a")
	before := e.revision()
	for name, l := range map[string]fsa.Limits{
		"cpu below use":     {CPU: 1000},
		"memory below use":  {Memory: 1 << 30},
		"storage below use": {Storage: 1 << 30},
		"negative storage":  {Storage: -1},
		"absurd cpu":        {CPU: 1 << 50},
	} {
		_, err := e.c.SetUserLimits(e.ctx, e.alice.ID, &l)
		require.Error(t, err, name)
		if l.CPU == 1000 {
			assert.Contains(t, err.Error(), "limit cpu = 1 is below the user's current use, 3")
		}
	}
	require.Equal(t, before, e.revision())
	q, err := e.c.SetUserLimits(e.ctx, e.alice.ID, &fsa.Limits{CPU: 4000, Memory: 8 << 30, Storage: 20 << 30})
	require.NoError(t, err)
	assert.Equal(t, builtinUse(1, 1), q.Usage)
}
