package k8s_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/k8s"
)

func TestConnectionURLOf(t *testing.T) {
	data := map[string][]byte{
		"host":     []byte("db-postgresql.ns.svc"),
		"port":     []byte("5432"),
		"username": []byte("postgres"),
		"password": []byte("p@ss:w/rd?#%"),
	}
	got, err := k8s.ConnectionURLOf(data)
	require.NoError(t, err)
	assert.Equal(t, "postgresql://postgres:p%40ss%3Aw%2Frd%3F%23%25@db-postgresql.ns.svc:5432/postgres", got)
	u, err := url.Parse(got)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	assert.Equal(t, "p@ss:w/rd?#%", pw, "round trip")

	data["host"] = []byte("::1")
	got, err = k8s.ConnectionURLOf(data)
	require.NoError(t, err)
	assert.Contains(t, got, "@[::1]:5432/")

	for _, k := range []string{"host", "port", "username", "password"} {
		t.Run("missing "+k, func(t *testing.T) {
			d := map[string][]byte{"host": []byte("h"), "port": []byte("1"), "username": []byte("u"), "password": []byte("p")}
			delete(d, k)
			_, err := k8s.ConnectionURLOf(d)
			require.ErrorIs(t, err, k8s.ErrNotReady)
		})
	}
}
