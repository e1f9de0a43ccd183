package fsa_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/memstore"
)

func testKEK(t testing.TB, id string) fsa.KEK {
	t.Helper()
	k, err := fsa.GenerateKEK(id)
	require.NoError(t, err)
	return k
}

func testKeyring(t testing.TB, primary fsa.KEK, older ...fsa.KEK) *fsa.Keyring {
	t.Helper()
	kr, err := fsa.NewKeyring(primary, older...)
	require.NoError(t, err)
	return kr
}

func uniq(t testing.TB, what string) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return what + "-" + hex.EncodeToString(b)
}

// secretWorld is one user's secrets, each a unique string that can be searched for in files.
type secretWorld struct {
	userID, projectID                                string
	kubeconfig, kubeMark, apiKey, envValue, plainEnv string
	token, password                                  string
}

// writeSecrets creates a user (with a password identity), their kubeconfig and Anthropic key,
// a project (with its terminal token) and a secret and a non-secret environment variable.
func writeSecrets(t testing.TB, ctx context.Context, c *fsa.Client) secretWorld {
	t.Helper()
	w := secretWorld{
		kubeMark: uniq(t, "kubeconfig"),
		apiKey:   uniq(t, "sk-ant"),
		envValue: uniq(t, "envsecret"),
		plainEnv: uniq(t, "envplain"),
		password: uniq(t, "pwhash"),
	}
	w.kubeconfig = "apiVersion: v1\nkind: Config\n# " + w.kubeMark
	u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "carol", Identity: &fsa.IdentitySpec{
		Provider: fsa.ProviderPassword, ProviderUserID: uniq(t, "carol"), Secret: w.password}})
	require.NoError(t, err)
	w.userID = u.ID
	_, err = c.UpdateUserConfig(ctx, u.ID, []fsa.UserConfig{
		{Key: fsa.ConfigKubeconfig, Value: w.kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true},
		{Key: fsa.ConfigAnthropicAPIKey, Value: w.apiKey, Category: fsa.CategoryAnthropic, Secret: true},
	}, nil)
	require.NoError(t, err)
	p, err := c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: "vault"})
	require.NoError(t, err)
	w.projectID = p.ID
	_, err = c.SetEnv(ctx, u.ID, p.ID, fsa.EnvSpec{Key: "API_TOKEN", Value: w.envValue, Secret: true})
	require.NoError(t, err)
	_, err = c.SetEnv(ctx, u.ID, p.ID, fsa.EnvSpec{Key: "GREETING", Value: w.plainEnv})
	require.NoError(t, err)
	w.token = terminalToken(t, ctx, c, p.ID)
	return w
}

func terminalToken(t testing.TB, ctx context.Context, c *fsa.Client, projectID string) string {
	t.Helper()
	vars, err := c.RuntimeEnv(ctx, projectID)
	require.NoError(t, err)
	for _, v := range vars {
		if v.Key == fsa.EnvTTYDAccessToken {
			require.NotEmpty(t, v.Value)
			return v.Value
		}
	}
	t.Fatal("no terminal token")
	return ""
}

func (w secretWorld) values() map[string]string {
	return map[string]string{"kubeconfig": w.kubeMark, "anthropic key": w.apiKey, "secret env value": w.envValue,
		"plain env value": w.plainEnv, "terminal token": w.token, "password hash": w.password}
}

// requireReadable checks that c reads every secret back in the clear.
func (w secretWorld) requireReadable(t testing.TB, ctx context.Context, c *fsa.Client) {
	t.Helper()
	kc, err := c.GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.NoError(t, err)
	require.Equal(t, w.kubeconfig, kc.Value)
	cfgs, err := c.ListUserConfig(ctx, w.userID, true)
	require.NoError(t, err)
	require.Len(t, cfgs, 2)
	require.Equal(t, w.apiKey, cfgs[0].Value) // ANTHROPIC_API_KEY < KUBECONFIG
	vars, err := c.ListEnv(ctx, w.userID, w.projectID, true)
	require.NoError(t, err)
	got := map[string]string{}
	for _, v := range vars {
		got[v.Key] = v.Value
	}
	require.Equal(t, w.envValue, got["API_TOKEN"])
	require.Equal(t, w.plainEnv, got["GREETING"])
	require.Equal(t, w.token, terminalToken(t, ctx, c, w.projectID))
	var ident *fsa.Identity
	ids, err := c.ListUserConfig(ctx, w.userID, false) // redacted, still fine
	require.NoError(t, err)
	require.True(t, ids[1].Redacted)
	_ = ident
}

// requireAbsent fails if any secret of w occurs in data.
func (w secretWorld) requireAbsent(t testing.TB, where string, data []byte) {
	t.Helper()
	require.NotEmpty(t, data, where)
	for what, v := range w.values() {
		require.False(t, containsValue(data, v), "%s holds the %s in the clear", where, what)
	}
}

// requirePresent is requireAbsent's counterpart, proving the search can find what it looks for.
func (w secretWorld) requirePresent(t testing.TB, where string, data []byte) {
	t.Helper()
	var missing []string
	for what, v := range w.values() {
		if !containsValue(data, v) {
			missing = append(missing, what)
		}
	}
	require.Empty(t, missing, "%s lacks these values", where)
}

// containsValue reports whether data holds v as it is or base64-encoded (as stores keep a
// record's data in JSON): v's encoding at each of the three byte alignments, trimmed to whole
// groups, is what any base64 text containing v contains.
func containsValue(data []byte, v string) bool {
	if bytes.Contains(data, []byte(v)) {
		return true
	}
	for i := 0; i < 3; i++ {
		part := v[i:]
		part = part[:len(part)/3*3]
		if bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString([]byte(part)))) {
			return true
		}
	}
	return false
}

// dumpRecords returns every record of the store as stored.
func dumpRecords(t testing.TB, ctx context.Context, st store.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, st.View(ctx, func(s store.Snapshot) error {
		for _, k := range store.Kinds {
			rs, err := s.List(k, store.Filter{})
			if err != nil {
				return err
			}
			for _, r := range rs {
				b.WriteString(r.ID)
				b.Write(r.Data)
			}
		}
		return nil
	}))
	return b.Bytes()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSecretsSealedMemstore(t *testing.T) {
	ctx := ctxT(t)
	st := memstore.New()
	defer st.Close()
	kr := testKeyring(t, testKEK(t, "k1"))
	c := fsa.New(st, fsa.WithKeys(kr))
	w := writeSecrets(t, ctx, c)
	w.requireReadable(t, ctx, c)
	w.requireAbsent(t, "memstore records", dumpRecords(t, ctx, st))

	// The same store without keys: names stay readable, values do not.
	plain := fsa.New(st)
	ps, err := plain.ListProjects(ctx, w.userID)
	require.NoError(t, err)
	require.Len(t, ps.Items, 1)
	_, err = plain.GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.ErrorIs(t, err, fsa.ErrKeyUnavailable)
	_, err = plain.RuntimeEnv(ctx, w.projectID)
	require.ErrorIs(t, err, fsa.ErrKeyUnavailable)

	// A plaintext store shows the same search finds them.
	st2 := memstore.New()
	defer st2.Close()
	c2 := fsa.New(st2)
	w2 := writeSecrets(t, ctx, c2)
	w2.requirePresent(t, "plaintext records", dumpRecords(t, ctx, st2))
}

func TestSecretsSealedBoltstore(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "fsa.db")
	st, err := boltstore.Open(path)
	require.NoError(t, err)
	kr := testKeyring(t, testKEK(t, "k1"))
	c := fsa.New(st, fsa.WithKeys(kr))
	w := writeSecrets(t, ctx, c)
	w.requireReadable(t, ctx, c)
	require.NoError(t, st.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	w.requireAbsent(t, "boltstore file", data)

	// Control: the same search finds every value in a plaintext boltstore file.
	ppath := filepath.Join(t.TempDir(), "plain.db")
	pst, err := boltstore.Open(ppath)
	require.NoError(t, err)
	pw := writeSecrets(t, ctx, fsa.New(pst))
	require.NoError(t, pst.Close())
	pdata, err := os.ReadFile(ppath)
	require.NoError(t, err)
	pw.requirePresent(t, "plaintext boltstore file", pdata)

	st, err = boltstore.Open(path)
	require.NoError(t, err)
	defer st.Close()
	c = fsa.New(st, fsa.WithKeys(kr))
	w.requireReadable(t, ctx, c)
	rep, err := c.CheckKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, rep.Plain)
	require.Equal(t, 6, rep.Records) // 2 settings, 3 variables, 1 identity
	require.Equal(t, map[string]int{"k1": 6}, rep.ByKey)

	// Another key under the same id, or no such key: a clear error, never garbage.
	_, err = fsa.New(st, fsa.WithKeys(testKeyring(t, testKEK(t, "k1")))).CheckKeys(ctx)
	require.ErrorIs(t, err, fsa.ErrDecrypt)
	_, err = fsa.New(st, fsa.WithKeys(testKeyring(t, testKEK(t, "k1")))).GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.ErrorIs(t, err, fsa.ErrDecrypt)
	_, err = fsa.New(st, fsa.WithKeys(testKeyring(t, testKEK(t, "k2")))).CheckKeys(ctx)
	require.ErrorIs(t, err, fsa.ErrKeyUnavailable)
	require.ErrorContains(t, err, `"k1"`)
}

// rawEdit rewrites a record's stored data with edit, bypassing the SDK.
func rawEdit(t testing.TB, ctx context.Context, st store.Store, kind store.Kind, id string, edit func([]byte) []byte) {
	t.Helper()
	var r store.Record
	require.NoError(t, st.View(ctx, func(s store.Snapshot) error {
		var err error
		r, err = s.Get(kind, id)
		return err
	}))
	r.Data = edit(append([]byte(nil), r.Data...))
	_, err := st.Commit(ctx, store.Txn{Conds: []store.Cond{{Kind: kind, ID: id, Version: r.Version}}, Ops: []store.Op{store.Put(r)}})
	require.NoError(t, err)
}

func sealedField(t testing.TB, data []byte, field string) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(data), `"`+field+`":{"sealed":"`)
	require.True(t, ok, "no sealed %s in %s", field, data)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

func TestSealedTampering(t *testing.T) {
	ctx := ctxT(t)
	st := memstore.New()
	defer st.Close()
	c := fsa.New(st, fsa.WithKeys(testKeyring(t, testKEK(t, "k1"))))
	w := writeSecrets(t, ctx, c)
	id := w.userID + "/" + fsa.ConfigKubeconfig

	var orig []byte
	require.NoError(t, st.View(ctx, func(s store.Snapshot) error {
		r, err := s.Get(store.KindUserConfig, id)
		orig = r.Data
		return err
	}))
	sealed := sealedField(t, orig, "value")
	// Flip one character of the ciphertext at several places: header, wrapped key, body, tag.
	for _, pos := range []int{6, 20, len(sealed) / 2, len(sealed) - 2} {
		flipped := []byte(sealed)
		if flipped[pos] == 'A' {
			flipped[pos] = 'B'
		} else {
			flipped[pos] = 'A'
		}
		rawEdit(t, ctx, st, store.KindUserConfig, id, func([]byte) []byte {
			return bytes.Replace(orig, []byte(sealed), flipped, 1)
		})
		_, err := c.GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
		require.Error(t, err, "flip at %d", pos)
		require.True(t, errorsIsAny(err, fsa.ErrDecrypt, fsa.ErrKeyUnavailable), "flip at %d: %v", pos, err)
	}

	// Moving a ciphertext to another record (the API key's value into the kubeconfig) fails too.
	var other []byte
	require.NoError(t, st.View(ctx, func(s store.Snapshot) error {
		r, err := s.Get(store.KindUserConfig, w.userID+"/"+fsa.ConfigAnthropicAPIKey)
		other = r.Data
		return err
	}))
	rawEdit(t, ctx, st, store.KindUserConfig, id, func([]byte) []byte {
		return bytes.Replace(orig, []byte(sealed), []byte(sealedField(t, other, "value")), 1)
	})
	_, err := c.GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.ErrorIs(t, err, fsa.ErrDecrypt)

	// Restored, it reads again.
	rawEdit(t, ctx, st, store.KindUserConfig, id, func([]byte) []byte { return orig })
	kc, err := c.GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.NoError(t, err)
	require.Equal(t, w.kubeconfig, kc.Value)
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if bytes.Contains([]byte(err.Error()), []byte(t.Error())) {
			return true
		}
	}
	return false
}

// TestRotateAndMigrate: a plaintext store is sealed by Reseal; a new primary key takes over
// after another Reseal and the old key can then be retired.
func TestRotateAndMigrate(t *testing.T) {
	ctx := ctxT(t)
	st := memstore.New()
	defer st.Close()
	w := writeSecrets(t, ctx, fsa.New(st)) // written before encryption
	k1, k2 := testKEK(t, "k1"), testKEK(t, "k2")

	c1 := fsa.New(st, fsa.WithKeys(testKeyring(t, k1)))
	w.requireReadable(t, ctx, c1) // plaintext still reads
	rep, err := c1.CheckKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, 6, rep.Plain)
	require.Equal(t, 6, rep.Pending("k1"))
	n, err := c1.Reseal(ctx, 0, fsa.ResealOptions{Batch: 4})
	require.NoError(t, err)
	require.Equal(t, 6, n)
	w.requireAbsent(t, "records after migration", dumpRecords(t, ctx, st))
	w.requireReadable(t, ctx, c1)
	n, err = c1.Reseal(ctx, 0, fsa.ResealOptions{})
	require.NoError(t, err)
	require.Zero(t, n, "once")

	// Step 1 of a rotation: k2 is known but not primary (nothing changes).
	n, err = fsa.New(st, fsa.WithKeys(testKeyring(t, k1, k2))).Reseal(ctx, 0, fsa.ResealOptions{})
	require.NoError(t, err)
	require.Zero(t, n)
	// Step 2: k2 primary, k1 kept for reading; new writes use k2 at once, Reseal re-wraps the rest.
	c12 := fsa.New(st, fsa.WithKeys(testKeyring(t, k2, k1)))
	w.requireReadable(t, ctx, c12)
	_, err = c12.SetEnv(ctx, w.userID, w.projectID, fsa.EnvSpec{Key: "NEW", Value: "v"})
	require.NoError(t, err)
	rep, err = c12.CheckKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"k1": 6, "k2": 1}, rep.ByKey)
	_, err = fsa.New(st, fsa.WithKeys(testKeyring(t, k2))).CheckKeys(ctx)
	require.ErrorIs(t, err, fsa.ErrKeyUnavailable, "k1 cannot be retired yet")
	n, err = c12.Reseal(ctx, 0, fsa.ResealOptions{Batch: 5, Pause: time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 6, n)
	// Step 3: k1 retired.
	c2 := fsa.New(st, fsa.WithKeys(testKeyring(t, k2)))
	rep, err = c2.CheckKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"k2": 7}, rep.ByKey)
	w.requireReadable(t, ctx, c2)
	_, err = fsa.New(st, fsa.WithKeys(testKeyring(t, k1))).GetUserConfig(ctx, w.userID, fsa.ConfigKubeconfig, true)
	require.ErrorIs(t, err, fsa.ErrKeyUnavailable)
}

func TestResealFenced(t *testing.T) {
	ctx := ctxT(t)
	st := memstore.New()
	defer st.Close()
	writeSecrets(t, ctx, fsa.New(st))
	c := fsa.New(st, fsa.WithKeys(testKeyring(t, testKEK(t, "k1"))))
	require.NoError(t, c.AcquireEpoch(ctx, 5))
	_, err := c.Reseal(ctx, 4, fsa.ResealOptions{})
	require.ErrorIs(t, err, fsa.ErrFenced)
	rep, err := c.CheckKeys(ctx)
	require.NoError(t, err)
	require.Equal(t, 6, rep.Plain, "a fenced reseal wrote nothing")
	n, err := c.Reseal(ctx, 5, fsa.ResealOptions{})
	require.NoError(t, err)
	require.Equal(t, 6, n)
}

func TestParseKeyring(t *testing.T) {
	k1, k2 := testKEK(t, "k1"), testKEK(t, "k2")
	kr, err := fsa.ParseKeyring("# keys\n" + k2.Encode() + "\n\n" + k1.Encode() + "\n")
	require.NoError(t, err)
	require.Equal(t, "k2", kr.PrimaryKeyID())
	require.Equal(t, []string{"k2", "k1"}, kr.KeyIDs())
	kr, err = fsa.ParseKeyring(k1.Encode() + "," + k2.Encode())
	require.NoError(t, err)
	require.Equal(t, "k1", kr.PrimaryKeyID())
	for name, text := range map[string]string{
		"empty":     "\n# nothing\n",
		"no colon":  "k1",
		"short key": "k1:AAAA",
		"bad b64":   "k1:!!!!",
		"twice":     k1.Encode() + "\n" + k1.Encode(),
		"bad id":    "k 1:" + strings.SplitN(k1.Encode(), ":", 2)[1],
	} {
		_, err := fsa.ParseKeyring(text)
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, name)
		require.NotContains(t, err.Error(), strings.SplitN(k1.Encode(), ":", 2)[1], "%s: key material in the error", name)
	}
	require.NotContains(t, k1.String(), strings.SplitN(k1.Encode(), ":", 2)[1])
}

// TestSealedFieldsOnly: only the top-level secret field is sealed (not a key of the same name
// nested in metadata), and values with quotes, escapes, braces and non-ASCII text round-trip.
func TestSealedFieldsOnly(t *testing.T) {
	ctx := ctxT(t)
	st := memstore.New()
	defer st.Close()
	c := fsa.New(st, fsa.WithKeys(testKeyring(t, testKEK(t, "k1"))))
	odd := `a "quoted" \ back\slash {"sealed":"x"} ünï <&> ` + "\t\n"
	u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "dave", Identity: &fsa.IdentitySpec{Provider: fsa.ProviderGitHub,
		ProviderUserID: "dave", Metadata: map[string]string{"secret": "meta-in-clear", "login": "dave"}}})
	require.NoError(t, err)
	_, err = c.LinkIdentity(ctx, u.ID, fsa.IdentitySpec{Provider: fsa.ProviderPassword, ProviderUserID: "dave",
		Secret: odd, Metadata: map[string]string{"secret": "meta-in-clear-2"}})
	require.NoError(t, err)
	raw := dumpRecords(t, ctx, st)
	require.Contains(t, string(raw), "meta-in-clear", "metadata is not a secret field")
	require.Contains(t, string(raw), "meta-in-clear-2")
	require.NotContains(t, string(raw), "back", "the identity secret is sealed")
	ident, err := c.LookupIdentity(ctx, fsa.ProviderPassword, "dave")
	require.NoError(t, err)
	require.Equal(t, odd, ident.Secret)
	require.Equal(t, "meta-in-clear-2", ident.Metadata["secret"])
	ident, err = c.LookupIdentity(ctx, fsa.ProviderGitHub, "dave")
	require.NoError(t, err)
	require.Empty(t, ident.Secret)

	_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: "ODD", Value: odd})
	require.NoError(t, err)
	got, err := c.GetUserConfig(ctx, u.ID, "ODD", true)
	require.NoError(t, err)
	require.Equal(t, odd, got.Value)
	_, err = c.SetUserConfig(ctx, u.ID, fsa.UserConfig{Key: "EMPTY", Value: ""})
	require.NoError(t, err)
	got, err = c.GetUserConfig(ctx, u.ID, "EMPTY", true)
	require.NoError(t, err)
	require.Empty(t, got.Value)
}
