package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

func TestAggregate(t *testing.T) {
	const (
		C  = fsa.StatusCreating
		S  = fsa.StatusStarting
		R  = fsa.StatusRunning
		SP = fsa.StatusStopping
		ST = fsa.StatusStopped
		TI = fsa.StatusTerminating
		TD = fsa.StatusTerminated
		E  = fsa.StatusError
		P  = fsa.StatusPartial
	)
	tests := []struct {
		name     string
		children []fsa.Status
		want     fsa.Status
	}{
		{"no children", nil, TD},
		{"any error wins", []fsa.Status{R, E}, E},
		{"error beats creating", []fsa.Status{C, E}, E},
		{"any creating", []fsa.Status{C, R}, C},
		{"creating with stopped", []fsa.Status{ST, C}, C},
		{"all running", []fsa.Status{R, R}, R},
		{"all stopped", []fsa.Status{ST, ST}, ST},
		{"all starting", []fsa.Status{S, S}, S},
		{"all terminated", []fsa.Status{TD, TD}, TD},
		{"single child", []fsa.Status{SP}, SP},
		{"running+starting", []fsa.Status{R, S}, S},
		{"stopped+stopping", []fsa.Status{ST, SP}, SP},
		{"terminated+terminating", []fsa.Status{TD, TI}, TI},
		{"running+stopped", []fsa.Status{R, ST}, P},
		{"starting+stopping", []fsa.Status{S, SP}, P},
		{"running+terminating", []fsa.Status{R, TI}, P},
		{"stopped+terminated", []fsa.Status{ST, TD}, P},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fsa.Aggregate(tc.children...))
		})
	}
}

func TestCheckAction(t *testing.T) {
	allowed := map[fsa.Status][]fsa.Action{
		fsa.StatusRunning:     {fsa.ActionStop, fsa.ActionDelete},
		fsa.StatusStopped:     {fsa.ActionStart, fsa.ActionDelete},
		fsa.StatusError:       {fsa.ActionStart, fsa.ActionStop, fsa.ActionDelete},
		fsa.StatusPartial:     {fsa.ActionStart, fsa.ActionStop, fsa.ActionDelete},
		fsa.StatusStarting:    {fsa.ActionStop, fsa.ActionDelete},
		fsa.StatusStopping:    {fsa.ActionStart, fsa.ActionDelete},
		fsa.StatusCreating:    {fsa.ActionDelete},
		fsa.StatusTerminating: nil,
		fsa.StatusTerminated:  nil,
	}
	for _, st := range fsa.Statuses {
		for _, a := range []fsa.Action{fsa.ActionStart, fsa.ActionStop, fsa.ActionDelete} {
			want := false
			for _, x := range allowed[st] {
				want = want || x == a
			}
			err := fsa.CheckAction(st, a)
			if want {
				assert.NoError(t, err, "%s on %s", a, st)
			} else {
				require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "%s on %s", a, st)
				assert.Contains(t, err.Error(), string(st), "the error names the state")
			}
		}
		assert.ElementsMatch(t, allowed[st], fsa.AllowedActions(st), "allowed actions for %s", st)
	}
}
