package k8s_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/fullstackagent/fsa/k8s"
)

func TestAPIError(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "statefulsets"}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"not found", apierrors.NewNotFound(gr, "x"), k8s.ErrNotFound},
		{"conflict", apierrors.NewConflict(gr, "x", errors.New("modified")), k8s.ErrConflict},
		{"already exists", apierrors.NewAlreadyExists(gr, "x"), k8s.ErrConflict},
		{"forbidden", apierrors.NewForbidden(gr, "x", errors.New("rbac")), k8s.ErrForbidden},
		{"unauthorized", apierrors.NewUnauthorized("who"), k8s.ErrUnauthorized},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "x",
			field.ErrorList{field.Required(field.NewPath("spec"), "")}), k8s.ErrInvalidSpec},
		{"other", apierrors.NewInternalError(errors.New("boom")), nil},
	}
	sentinels := []error{k8s.ErrNotFound, k8s.ErrConflict, k8s.ErrForbidden, k8s.ErrUnauthorized, k8s.ErrInvalidSpec}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := k8s.APIError("get x", tt.err)
			require.Error(t, got)
			assert.ErrorIs(t, got, tt.err, "the API error stays in the chain")
			var status apierrors.APIStatus
			assert.ErrorAs(t, got, &status)
			assert.Contains(t, got.Error(), "get x: ")
			for _, s := range sentinels {
				assert.Equal(t, s == tt.want, errors.Is(got, s), "errors.Is(%v)", s)
			}
		})
	}
	assert.NoError(t, k8s.APIError("get x", nil))
}
