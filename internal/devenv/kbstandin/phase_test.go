package kbstandin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestNextPhase(t *testing.T) {
	tests := []struct {
		phase       string
		wantRunning bool
		settled     bool
		want        string
	}{
		{"", true, true, PhaseCreating},
		{"", false, true, PhaseCreating},
		{PhaseCreating, true, false, PhaseCreating},
		{PhaseCreating, true, true, PhaseRunning},
		{PhaseCreating, false, true, PhaseStopping},
		{PhaseRunning, true, true, PhaseRunning},
		{PhaseRunning, false, true, PhaseStopping},
		{PhaseStopping, false, false, PhaseStopping},
		{PhaseStopping, false, true, PhaseStopped},
		{PhaseStopping, true, true, PhaseUpdating},
		{PhaseStopped, false, true, PhaseStopped},
		{PhaseStopped, true, true, PhaseUpdating},
		{PhaseUpdating, true, false, PhaseUpdating},
		{PhaseUpdating, true, true, PhaseRunning},
		{PhaseUpdating, false, true, PhaseStopping},
		{"Failed", true, true, PhaseUpdating},
		{"Abnormal", false, true, PhaseStopping},
	}
	for _, tt := range tests {
		got := nextPhase(tt.phase, tt.wantRunning, tt.settled)
		assert.Equal(t, tt.want, got, "nextPhase(%q, wantRunning=%v, settled=%v)", tt.phase, tt.wantRunning, tt.settled)
	}
}

func TestWantRunning(t *testing.T) {
	comp := func(replicas any) map[string]any {
		m := map[string]any{"name": "postgresql"}
		if replicas != nil {
			m["replicas"] = replicas
		}
		return m
	}
	stop := func(m map[string]any, v bool) map[string]any { m["stop"] = v; return m }
	tests := []struct {
		name string
		spec map[string]any
		want bool
	}{
		{"no spec", nil, true},
		{"no components", map[string]any{"componentSpecs": []any{}}, true},
		{"one replica", map[string]any{"componentSpecs": []any{comp(int64(1))}}, true},
		{"zero replicas", map[string]any{"componentSpecs": []any{comp(int64(0))}}, false},
		{"zero replicas as float", map[string]any{"componentSpecs": []any{comp(float64(0))}}, false},
		{"replicas unset", map[string]any{"componentSpecs": []any{comp(nil)}}, true},
		{"one of two stopped", map[string]any{"componentSpecs": []any{comp(int64(0)), comp(int64(2))}}, true},
		{"all stopped", map[string]any{"componentSpecs": []any{comp(int64(0)), comp(int64(0))}}, false},
		{"stop true (1.x)", map[string]any{"componentSpecs": []any{stop(comp(int64(1)), true)}}, false},
		{"stop false (1.x)", map[string]any{"componentSpecs": []any{stop(comp(int64(1)), false)}}, true},
		{"one of two stop true", map[string]any{"componentSpecs": []any{stop(comp(int64(1)), true), comp(int64(1))}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &unstructured.Unstructured{Object: map[string]any{}}
			if tt.spec != nil {
				obj.Object["spec"] = tt.spec
			}
			assert.Equal(t, tt.want, wantRunning(obj))
		})
	}
}
