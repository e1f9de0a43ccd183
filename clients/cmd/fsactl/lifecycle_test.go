package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

func TestNextAction(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	for _, tc := range []struct {
		l    *fsav1.ProjectLifecycle
		want string
	}{
		{nil, ""},
		{&fsav1.ProjectLifecycle{IdleTimeout: durationpb.New(time.Hour)}, ""},
		{&fsav1.ProjectLifecycle{NextAction: fsav1.LifecycleAction_LIFECYCLE_ACTION_STOP, NextActionAt: at(12 * time.Minute), NextActionReason: "IdleTimeout"}, "stops in 12m (idle)"},
		{&fsav1.ProjectLifecycle{NextAction: fsav1.LifecycleAction_LIFECYCLE_ACTION_DELETE, NextActionAt: at(50 * time.Hour), NextActionReason: "StoppedTooLong"}, "deleted in 2d2h (stopped too long)"},
		{&fsav1.ProjectLifecycle{NextAction: fsav1.LifecycleAction_LIFECYCLE_ACTION_STOP, NextActionAt: at(-time.Second), NextActionReason: "Expired"}, "stops now (expiry)"},
		{&fsav1.ProjectLifecycle{NextAction: fsav1.LifecycleAction_LIFECYCLE_ACTION_STOP, NextActionAt: at(90 * time.Minute), NextActionReason: "Expired"}, "stops in 1h30m (expiry)"},
	} {
		assert.Equal(t, tc.want, nextAction(tc.l, now))
	}
	assert.Equal(t, "idle 30m, delete after stopped 7d", policyLine(&fsav1.ProjectLifecycle{
		IdleTimeout: durationpb.New(30 * time.Minute), DeleteStoppedAfter: durationpb.New(7 * 24 * time.Hour)}))
	assert.Equal(t, "none", policyLine(nil))
}
