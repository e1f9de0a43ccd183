package fsa

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/fullstackagent/fsa/store"
)

// Secrets at rest. A Client built WithKeys seals the secret fields of a record (secretFields)
// before the record enters a transaction, so the store, a Raft log, snapshots and backups hold
// ciphertext only; reads through the Client open them again. Everything else (ids, owners,
// parents, statuses, names, keys of variables and settings, categories, flags, times) stays in
// the clear, so lists, watches and reconcile's bookkeeping work as before.
//
// A sealed field F is stored as "F": {"sealed": "fsa1.<base64url>"}: an object where a string
// was, so that a program that predates sealing fails to decode the record (an error) instead of
// reading an empty value (garbage) during a rolling upgrade. The payload is
//
//	kid length (1) | kid | wrapped data key length (2, big endian) | wrapped data key |
//	nonce (12) | AES-256-GCM ciphertext and tag
//
// with "<kind>\x00<id>\x00<field>" as additional data, so a ciphertext cannot be moved to
// another record or field. A data key seals up to maxDataKeyUses values and is replaced when
// the primary KEK changes; it lives in memory only, wrapped in each ciphertext.

// secretFields lists, per kind, the JSON fields holding secret values: every value of an
// environment variable and of a user setting (the Secret flag decides what is shown, not what
// is protected: a DATABASE_URL or a mis-flagged token is a credential too), and the secret of a
// sign-in identity (a password hash).
var secretFields = map[store.Kind][]string{
	store.KindEnvVar:     {"value"},
	store.KindUserConfig: {"value"},
	store.KindIdentity:   {"secret"},
}

const (
	sealedPrefix   = "fsa1."
	maxDataKeyUses = 1 << 24
	dataKeySize    = 32
)

type dataKey struct {
	kid     string
	wrapped []byte
	aead    cipher.AEAD
	uses    uint64
}

// sealer seals and opens values with data keys wrapped by a KeyWrapper.
type sealer struct {
	kw KeyWrapper

	mu    sync.Mutex
	cur   *dataKey
	cache map[string]*dataKey // unwrapped data keys by kid + "\x00" + wrapped
}

const maxCachedDataKeys = 4096

func newSealer(kw KeyWrapper) *sealer {
	return &sealer{kw: kw, cache: map[string]*dataKey{}}
}

// current returns the data key to seal with, making a new one when needed.
func (s *sealer) current(ctx context.Context) (*dataKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dk := s.cur; dk != nil && dk.uses < maxDataKeyUses && dk.kid == s.kw.PrimaryKeyID() {
		dk.uses++
		return dk, nil
	}
	raw := make([]byte, dataKeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("new data key: %w", err)
	}
	kid, wrapped, err := s.kw.Wrap(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	if len(kid) == 0 || len(kid) > 255 || len(wrapped) > 0xffff {
		return nil, fmt.Errorf("wrap data key: key id of %d bytes or wrapped key of %d bytes out of range", len(kid), len(wrapped))
	}
	aead, err := newGCM(raw)
	if err != nil {
		return nil, err
	}
	s.cur = &dataKey{kid: kid, wrapped: wrapped, aead: aead, uses: 1}
	s.remember(s.cur)
	return s.cur, nil
}

func (s *sealer) remember(dk *dataKey) {
	if len(s.cache) >= maxCachedDataKeys {
		clear(s.cache)
	}
	s.cache[dk.kid+"\x00"+string(dk.wrapped)] = dk
}

// open returns the data key of a ciphertext, unwrapping it on first use.
func (s *sealer) open(ctx context.Context, kid string, wrapped []byte) (*dataKey, error) {
	key := kid + "\x00" + string(wrapped)
	s.mu.Lock()
	dk := s.cache[key]
	s.mu.Unlock()
	if dk != nil {
		return dk, nil
	}
	raw, err := s.kw.Unwrap(ctx, kid, wrapped)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(raw)
	if err != nil {
		return nil, err
	}
	dk = &dataKey{kid: kid, wrapped: append([]byte(nil), wrapped...), aead: aead}
	s.mu.Lock()
	s.remember(dk)
	s.mu.Unlock()
	return dk, nil
}

// seal encrypts plaintext with ad as additional data.
func (s *sealer) seal(ctx context.Context, plaintext, ad []byte) (string, error) {
	dk, err := s.current(ctx)
	if err != nil {
		return "", err
	}
	ns := dk.aead.NonceSize()
	n := 1 + len(dk.kid) + 2 + len(dk.wrapped)
	buf := make([]byte, n+ns, n+ns+len(plaintext)+dk.aead.Overhead())
	buf[0] = byte(len(dk.kid))
	copy(buf[1:], dk.kid)
	binary.BigEndian.PutUint16(buf[1+len(dk.kid):], uint16(len(dk.wrapped)))
	copy(buf[3+len(dk.kid):], dk.wrapped)
	nonce := buf[n : n+ns]
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	buf = dk.aead.Seal(buf, nonce, plaintext, ad)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

// sealedHeader is the clear part of a ciphertext.
type sealedHeader struct {
	kid     string
	wrapped []byte
	rest    []byte // nonce, ciphertext and tag
}

func parseSealed(text string) (sealedHeader, error) {
	enc, ok := strings.CutPrefix(text, sealedPrefix)
	if !ok {
		return sealedHeader{}, fmt.Errorf("%w: not a sealed value of a known format", ErrDecrypt)
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return sealedHeader{}, fmt.Errorf("%w: sealed value is not base64url", ErrDecrypt)
	}
	if len(b) < 1 || len(b) < 1+int(b[0])+2 {
		return sealedHeader{}, fmt.Errorf("%w: sealed value is truncated", ErrDecrypt)
	}
	kl := int(b[0])
	kid := string(b[1 : 1+kl])
	wl := int(binary.BigEndian.Uint16(b[1+kl:]))
	if len(b) < 3+kl+wl {
		return sealedHeader{}, fmt.Errorf("%w: sealed value is truncated", ErrDecrypt)
	}
	return sealedHeader{kid: kid, wrapped: b[3+kl : 3+kl+wl], rest: b[3+kl+wl:]}, nil
}

// unseal decrypts a value sealed with ad.
func (s *sealer) unseal(ctx context.Context, text string, ad []byte) ([]byte, error) {
	h, err := parseSealed(text)
	if err != nil {
		return nil, err
	}
	dk, err := s.open(ctx, h.kid, h.wrapped)
	if err != nil {
		return nil, err
	}
	ns := dk.aead.NonceSize()
	if len(h.rest) < ns+dk.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed value is truncated", ErrDecrypt)
	}
	pt, err := dk.aead.Open(nil, h.rest[:ns], h.rest[ns:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed value does not open (altered, damaged, or moved from another record)", ErrDecrypt)
	}
	return pt, nil
}

func sealAD(kind store.Kind, id, field string) []byte {
	return []byte(string(kind) + "\x00" + id + "\x00" + field)
}

// The record transforms below edit the JSON of a record in place: they find a secret field
// among the top-level keys (jsonField) and splice its new value in, so that sealing and
// opening cost a string copy and the AEAD, not a decode and re-encode of the whole record.

// sealRecord returns r with its secret fields sealed (r itself when it has none). A field
// already sealed is kept as it is.
func (s *sealer) sealRecord(ctx context.Context, r store.Record) (store.Record, error) {
	for _, f := range secretFields[r.Kind] {
		vs, ve, ok := jsonField(r.Data, f)
		if !ok || r.Data[vs] == '{' {
			continue
		}
		var v string
		if err := json.Unmarshal(r.Data[vs:ve], &v); err != nil {
			return r, fmt.Errorf("seal %s %q field %s: %w", r.Kind, r.ID, f, err)
		}
		sealed, err := s.seal(ctx, []byte(v), sealAD(r.Kind, r.ID, f))
		if err != nil {
			return r, fmt.Errorf("seal %s %q: %w", r.Kind, r.ID, err)
		}
		r.Data = splice(r.Data, vs, ve, `{"sealed":"`, sealed, `"}`)
	}
	return r, nil
}

// openRecord returns r with its sealed fields opened. With a nil sealer, a sealed field is an
// error wrapping ErrKeyUnavailable.
func (s *sealer) openRecord(ctx context.Context, r store.Record) (store.Record, error) {
	if !hasSealed(r.Data) {
		return r, nil
	}
	for _, f := range secretFields[r.Kind] {
		text, vs, ve, err := sealedField(r, f)
		if err != nil || text == "" {
			return r, err
		}
		if s == nil {
			return r, fmt.Errorf("open %s %q: %w: its %s is sealed and %v", r.Kind, r.ID, ErrKeyUnavailable, f, errNoKeys)
		}
		pt, err := s.unseal(ctx, text, sealAD(r.Kind, r.ID, f))
		if err != nil {
			return r, fmt.Errorf("open %s %q field %s: %w", r.Kind, r.ID, f, err)
		}
		r.Data = splice(r.Data, vs, ve, "", string(encode(string(pt))), "")
	}
	return r, nil
}

// sealedField returns the ciphertext of field f of r and the byte range of its value, or ""
// when f is absent or in the clear.
func sealedField(r store.Record, f string) (text string, vs, ve int, err error) {
	vs, ve, ok := jsonField(r.Data, f)
	if !ok || r.Data[vs] != '{' {
		return "", 0, 0, nil
	}
	var sj sealedJSON
	if err := json.Unmarshal(r.Data[vs:ve], &sj); err != nil || sj.Sealed == "" {
		return "", 0, 0, fmt.Errorf("open %s %q field %s: %w: not a sealed value", r.Kind, r.ID, f, ErrDecrypt)
	}
	return sj.Sealed, vs, ve, nil
}

// splice returns data with data[vs:ve] replaced by a+b+c, in a new slice (data may be shared
// with the store).
func splice(data []byte, vs, ve int, a, b, c string) []byte {
	out := make([]byte, 0, len(data)-(ve-vs)+len(a)+len(b)+len(c))
	out = append(out, data[:vs]...)
	out = append(append(append(out, a...), b...), c...)
	return append(out, data[ve:]...)
}

// hasSealed is a quick test that data may hold a sealed field.
func hasSealed(data []byte) bool { return bytes.Contains(data, sealedKey) }

var sealedKey = []byte(`{"sealed":"`)

// sealedJSON is the stored form of a sealed field.
type sealedJSON struct {
	Sealed string `json:"sealed"`
}

// sealedState reports how r's secret fields are stored: plain is true when one is in the
// clear, headers are the clear parts of the sealed ones.
func sealedState(r store.Record) (plain bool, headers []sealedHeader, err error) {
	for _, f := range secretFields[r.Kind] {
		vs, _, ok := jsonField(r.Data, f)
		if !ok {
			continue
		}
		if r.Data[vs] != '{' {
			plain = true
			continue
		}
		text, _, _, err := sealedField(r, f)
		if err != nil {
			return false, nil, err
		}
		h, err := parseSealed(text)
		if err != nil {
			return false, nil, fmt.Errorf("%s %q field %s: %w", r.Kind, r.ID, f, err)
		}
		headers = append(headers, h)
	}
	return plain, headers, nil
}

// jsonField finds the top-level key name of the JSON object data and returns the byte range
// [vs, ve) of its value; ok is false when data is not an object or has no such key. Nested
// objects and strings are skipped, so a key of the same name inside them never matches.
func jsonField(data []byte, name string) (vs, ve int, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, 0, false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
		if i >= len(data) || data[i] != '"' {
			return 0, 0, false
		}
		ks := i
		ke, ok := skipJSONString(data, i)
		if !ok {
			return 0, 0, false
		}
		i = skipSpace(data, ke)
		if i >= len(data) || data[i] != ':' {
			return 0, 0, false
		}
		vs = skipSpace(data, i+1)
		ve, ok = skipJSONValue(data, vs)
		if !ok {
			return 0, 0, false
		}
		if ke-ks == len(name)+2 && string(data[ks+1:ke-1]) == name {
			return vs, ve, true
		}
		i = ve
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipJSONString returns the index after the string starting at data[i] ('"').
func skipJSONString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipJSONValue returns the index after the value starting at data[i].
func skipJSONValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return skipJSONString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				e, ok := skipJSONString(data, j)
				if !ok {
					return 0, false
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' && data[j] != ' ' && data[j] != '\n' && data[j] != '\t' && data[j] != '\r' {
		j++
	}
	return j, j > i
}

// sealTxn seals the secret fields of txn's puts, in place.
func (s *sealer) sealTxn(ctx context.Context, txn *store.Txn) error {
	if s == nil {
		return nil
	}
	for i := range txn.Ops {
		op := &txn.Ops[i]
		if op.Type != store.OpPut {
			continue
		}
		r, err := s.sealRecord(ctx, op.Record)
		if err != nil {
			return err
		}
		op.Record = r
	}
	return nil
}

// openSnapshot is a snapshot whose reads open sealed fields.
type openSnapshot struct {
	store.Snapshot
	ctx context.Context
	s   *sealer
}

func (o openSnapshot) Get(kind store.Kind, id string) (store.Record, error) {
	r, err := o.Snapshot.Get(kind, id)
	if err != nil || len(secretFields[kind]) == 0 {
		return r, err
	}
	return o.s.openRecord(o.ctx, r)
}

func (o openSnapshot) List(kind store.Kind, f store.Filter) ([]store.Record, error) {
	rs, err := o.Snapshot.List(kind, f)
	if err != nil || len(secretFields[kind]) == 0 {
		return rs, err
	}
	for i := range rs {
		if rs[i], err = o.s.openRecord(o.ctx, rs[i]); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// opening wraps fn so that the snapshot it reads opens sealed fields.
func (c *Client) opening(ctx context.Context, fn func(store.Snapshot) error) func(store.Snapshot) error {
	return func(s store.Snapshot) error { return fn(openSnapshot{Snapshot: s, ctx: ctx, s: c.sealer}) }
}

// raw returns the snapshot under an openSnapshot: records as stored.
func raw(s store.Snapshot) store.Snapshot {
	if o, ok := s.(openSnapshot); ok {
		return o.Snapshot
	}
	return s
}

// withoutSealed returns r with its sealed fields emptied, for reads that never show secret
// values (the watch stream) and so need no key.
func withoutSealed(r store.Record) store.Record {
	if !hasSealed(r.Data) {
		return r
	}
	for _, f := range secretFields[r.Kind] {
		if vs, ve, ok := jsonField(r.Data, f); ok && r.Data[vs] == '{' {
			r.Data = splice(r.Data, vs, ve, `""`, "", "")
		}
	}
	return r
}
