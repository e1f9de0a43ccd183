package k8s

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Errors returned by this package. They arrive wrapped with context; test for
// them with errors.Is. Errors from the API server keep their original
// *apierrors.StatusError in the chain as well, so apierrors.IsNotFound and
// friends keep working.
var (
	// ErrNoKubeconfig means the user has no kubeconfig on record.
	ErrNoKubeconfig = errors.New("no kubeconfig")

	// ErrInvalidKubeconfig means a kubeconfig could not be parsed, has no usable
	// current context or namespace, or asks for something this package refuses
	// to do on a user's behalf (exec plugins, local files).
	ErrInvalidKubeconfig = errors.New("invalid kubeconfig")

	// ErrInvalidSpec means a spec failed validation, here or at the API server.
	ErrInvalidSpec = errors.New("invalid spec")

	// ErrNotFound means the object does not exist.
	ErrNotFound = errors.New("not found")

	// ErrConflict means the write lost a race: the object changed, or already
	// exists. Re-read and retry.
	ErrConflict = errors.New("conflict")

	// ErrForbidden means the credentials are valid but not allowed to do this,
	// typically because the object is outside the user's namespace.
	ErrForbidden = errors.New("forbidden")

	// ErrUnauthorized means the API server rejected the credentials.
	ErrUnauthorized = errors.New("unauthorized")

	// ErrNotReady means the thing asked for does not exist yet but is expected
	// to, such as a database's credentials before the cluster has made them.
	ErrNotReady = errors.New("not ready")
)

// apiError wraps an error from the API server with op as context and, when
// its status says so, with one of the sentinels above. nil stays nil.
func apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch {
	case apierrors.IsNotFound(err):
		kind = ErrNotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		kind = ErrConflict
	case apierrors.IsForbidden(err):
		kind = ErrForbidden
	case apierrors.IsUnauthorized(err):
		kind = ErrUnauthorized
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		kind = ErrInvalidSpec
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, kind, err)
}
