package fsa

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeyWrapper wraps and unwraps data keys with key-encryption keys (KEKs): the one piece of
// envelope encryption that holds long-lived key material, and the interface a KMS implements
// (Wrap and Unwrap are then calls to it, made rarely: the SDK caches unwrapped data keys).
//
// The SDK seals every secret value (see WithKeys) with a data key (AES-256-GCM) and stores, in
// the same ciphertext, the data key wrapped by the KEK and that KEK's id, so that any node
// holding the KEK can open it and a KEK can be replaced without touching the values' keys.
type KeyWrapper interface {
	// PrimaryKeyID is the id of the KEK new data keys are wrapped with.
	PrimaryKeyID() string
	// Wrap encrypts dataKey with the primary KEK and returns that KEK's id.
	Wrap(ctx context.Context, dataKey []byte) (keyID string, wrapped []byte, err error)
	// Unwrap decrypts a data key wrapped by the KEK keyID. It returns an error wrapping
	// ErrKeyUnavailable when it does not hold that KEK, and one wrapping ErrDecrypt when the
	// wrapped key does not open with it (a different key under the same id, or damage).
	Unwrap(ctx context.Context, keyID string, wrapped []byte) ([]byte, error)
}

// KEKSize is the size in bytes of a Keyring's key-encryption key (AES-256).
const KEKSize = 32

// MaxKeyIDLen bounds a KEK id.
const MaxKeyIDLen = 64

// KEK is one key-encryption key of a Keyring. Its key never appears in logs: String shows the
// id only.
type KEK struct {
	ID  string
	Key []byte
}

// String returns the key's id only.
func (k KEK) String() string { return "key-encryption key " + k.ID }

// Encode returns the key as "<id>:<key, base64url>", the line ParseKeyring reads.
func (k KEK) Encode() string { return k.ID + ":" + base64.RawURLEncoding.EncodeToString(k.Key) }

// GenerateKEK returns a new KEK with the given id and a random 32-byte key.
func GenerateKEK(id string) (KEK, error) {
	if err := validKeyID(id); err != nil {
		return KEK{}, err
	}
	k := KEK{ID: id, Key: make([]byte, KEKSize)}
	if _, err := rand.Read(k.Key); err != nil {
		return KEK{}, fmt.Errorf("generate key-encryption key: %w", err)
	}
	return k, nil
}

func validKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("%w: key id must be 1 to %d characters", ErrInvalidArgument, MaxKeyIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: key id %q: only letters, digits, '-', '_' and '.'", ErrInvalidArgument, id)
		}
	}
	return nil
}

// Keyring is a KeyWrapper holding its KEKs in memory: the primary wraps new data keys, the
// others are kept for reading what they wrapped (during a rotation). Wrapping is AES-256-GCM
// with the KEK id as additional data.
type Keyring struct {
	primary string
	keys    map[string]cipher.AEAD
	ids     []string
}

var _ KeyWrapper = (*Keyring)(nil)

// NewKeyring returns a Keyring whose primary is primary and which also opens what older
// wrapped. Ids must be distinct and keys KEKSize bytes.
func NewKeyring(primary KEK, older ...KEK) (*Keyring, error) {
	kr := &Keyring{primary: primary.ID, keys: map[string]cipher.AEAD{}}
	for _, k := range append([]KEK{primary}, older...) {
		if err := validKeyID(k.ID); err != nil {
			return nil, err
		}
		if len(k.Key) != KEKSize {
			return nil, fmt.Errorf("%w: %s has %d bytes; want %d", ErrInvalidArgument, k, len(k.Key), KEKSize)
		}
		if _, dup := kr.keys[k.ID]; dup {
			return nil, fmt.Errorf("%w: key id %q given twice", ErrInvalidArgument, k.ID)
		}
		aead, err := newGCM(k.Key)
		if err != nil {
			return nil, err
		}
		kr.keys[k.ID] = aead
		kr.ids = append(kr.ids, k.ID)
	}
	return kr, nil
}

// ParseKeyring reads a keyring: one "<id>:<key, base64url>" per line (or separated by commas),
// the first being the primary; blank lines and lines starting with '#' are skipped. Errors never
// quote key material.
func ParseKeyring(text string) (*Keyring, error) {
	var keys []KEK
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, ",", "\n")))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: keyring entry %d: want <id>:<base64url key>", ErrInvalidArgument, n)
		}
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
		if err != nil {
			return nil, fmt.Errorf("%w: keyring entry %d (%s): key is not base64url", ErrInvalidArgument, n, id)
		}
		keys = append(keys, KEK{ID: id, Key: key})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: keyring has no key", ErrInvalidArgument)
	}
	return NewKeyring(keys[0], keys[1:]...)
}

// PrimaryKeyID implements KeyWrapper.
func (kr *Keyring) PrimaryKeyID() string { return kr.primary }

// KeyIDs returns the ids of the keyring's KEKs, the primary first.
func (kr *Keyring) KeyIDs() []string { return append([]string(nil), kr.ids...) }

// Wrap implements KeyWrapper.
func (kr *Keyring) Wrap(_ context.Context, dataKey []byte) (string, []byte, error) {
	aead := kr.keys[kr.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dataKey)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("wrap data key: %w", err)
	}
	return kr.primary, aead.Seal(nonce, nonce, dataKey, wrapAD(kr.primary)), nil
}

// Unwrap implements KeyWrapper.
func (kr *Keyring) Unwrap(_ context.Context, keyID string, wrapped []byte) ([]byte, error) {
	aead, ok := kr.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: key-encryption key %q is not in the keyring (it holds %s)", ErrKeyUnavailable, keyID, strings.Join(kr.ids, ", "))
	}
	if len(wrapped) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: wrapped data key is truncated", ErrDecrypt)
	}
	ns := aead.NonceSize()
	dk, err := aead.Open(nil, wrapped[:ns], wrapped[ns:], wrapAD(keyID))
	if err != nil {
		return nil, fmt.Errorf("%w: data key does not open with key-encryption key %q (a different key under that id?)", ErrDecrypt, keyID)
	}
	return dk, nil
}

func wrapAD(keyID string) []byte { return []byte("fsa data key\x00" + keyID) }

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	return aead, nil
}

// errNoKeys is returned when sealed data is read by a Client without a KeyWrapper.
var errNoKeys = errors.New("the client has no keyring (fsa.WithKeys)")

// WithKeys makes the Client seal every secret value (values of environment variables and user
// settings, identity secrets) with data keys wrapped by kw before it enters a transaction, and
// open them on read. Without it, values are stored in the clear and sealed ones cannot be read
// (ErrKeyUnavailable): only tests run so.
func WithKeys(kw KeyWrapper) Option {
	return func(c *Client) {
		if kw != nil {
			c.sealer = newSealer(kw)
		}
	}
}

// KeyringFile reads the keyring in the file at path (ParseKeyring's format). With create, a
// missing file is made with one new key (id "k1") and mode 0600: for examples and development
// only, since a key kept beside the data protects backups but not a copy of the whole disk.
// A file readable by other users is refused.
func KeyringFile(path string, create bool) (*Keyring, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		k, err := GenerateKEK("k1")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(k.Encode()+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("keyring file: %w", err)
		}
		return NewKeyring(k)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("%w: keyring file %s is readable by other users (mode %v)", ErrInvalidArgument, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	kr, err := ParseKeyring(string(b))
	if err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	return kr, nil
}
