package k8stest_test

import (
	"testing"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }
