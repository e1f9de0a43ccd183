package fsa

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fullstackagent/fsa/store"
)

// Input limits.
const (
	MaxProjectNameLen = 63 // characters, with a letter or digit among them
	MaxNameLen        = 64 // characters in a user name or a provider's user id
	MaxDescriptionLen = 1024
	MaxEnvKeyLen      = store.MaxIDLen - idLen - 1 // bytes: a record id is "<project or user id>/<key>"
	MaxEnvValueLen    = 64 << 10                   // bytes
	MaxCategoryLen    = 63
	MaxConfigValueLen = 256 << 10 // bytes, for every setting but the kubeconfig
	MaxKubeconfigLen  = 1 << 20   // bytes
	MaxEnvVars        = 200       // per project
)

func validText(field, s string, max int, required bool) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is required", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s has %d characters; at most %d allowed", field, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return invalid("%s contains a control character", field)
		}
	}
	return nil
}

func validName(field, s string, max int) error {
	if err := validText(field, s, max, true); err != nil {
		return err
	}
	if strings.ContainsAny(s, "\n\t") {
		return invalid("%s must be one line", field)
	}
	return nil
}

// validProjectName: one line of 1 to MaxProjectNameLen characters with a letter or digit of any
// script (K8sName keeps the ASCII ones, and falls back to "project" when there are none).
func validProjectName(s string) error {
	if err := validName("project name", s, MaxProjectNameLen); err != nil {
		return err
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		return invalid("project name %q has no letter or digit", s)
	}
	return nil
}

// validID checks an id given by a caller. A well-formed id that does not exist is ErrNotFound,
// found later; a malformed one is rejected here.
func validID(field, id string) error {
	if id == "" {
		return invalid("%s is required", field)
	}
	if len(id) > 128 || strings.ContainsAny(id, "/\x00") || !utf8.ValidString(id) {
		return invalid("%s %q is malformed", field, truncate(id, 40))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ValidEnvKey reports whether key is a POSIX environment variable name: letters, digits and
// underscores, not starting with a digit.
func ValidEnvKey(key string) bool {
	if key == "" || len(key) > MaxEnvKeyLen {
		return false
	}
	for i, r := range key {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// PlatformOwned reports whether the platform owns key: users may not set it, and a user's
// variable never overrides it in the sandbox.
func PlatformOwned(key string) bool {
	switch key {
	case EnvTTYDAccessToken, EnvDatabaseURL, EnvProjectName, EnvGitHubToken:
		return true
	case EnvTerminalStart:
		return false // a project setting, stored as a variable
	}
	return strings.HasPrefix(key, envPlatformPrefixAnthropic) || strings.HasPrefix(key, envPlatformPrefixFSA)
}

func validEnvKey(key string) error {
	if !ValidEnvKey(key) {
		return invalid("environment key %q is not a valid name (letters, digits and _, not starting with a digit, at most %d)", truncate(key, 40), MaxEnvKeyLen)
	}
	if PlatformOwned(key) {
		return invalid("environment key %q is owned by the platform", key)
	}
	return nil
}

func validEnvValue(key, v string) error {
	if len(v) > MaxEnvValueLen {
		return invalid("value of %s has %d bytes; at most %d allowed", key, len(v), MaxEnvValueLen)
	}
	if strings.ContainsRune(v, 0) {
		return invalid("value of %s contains a NUL byte", key)
	}
	if key == EnvTerminalStart && v != TerminalStartShell && v != TerminalStartClaude {
		return invalid("%s must be %q or %q", key, TerminalStartShell, TerminalStartClaude)
	}
	return nil
}

// validConfig checks a setting and returns its category, defaulted.
func validConfig(cfg UserConfig) (string, error) {
	if !ValidEnvKey(cfg.Key) {
		return "", invalid("config key %q is not a valid name", truncate(cfg.Key, 40))
	}
	max := MaxConfigValueLen
	if cfg.Key == ConfigKubeconfig {
		max = MaxKubeconfigLen
	}
	if len(cfg.Value) > max {
		return "", invalid("value of %s has %d bytes; at most %d allowed", cfg.Key, len(cfg.Value), max)
	}
	if cfg.Key == ConfigGitHubToken && (cfg.Value == "" || strings.IndexFunc(cfg.Value, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0) {
		return "", invalid("%s must be a token without spaces or control characters", cfg.Key)
	}
	if err := validLifecycleConfig(cfg); err != nil {
		return "", err
	}
	if cfg.Key == ConfigAnthropicBaseURL {
		u, err := url.Parse(cfg.Value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", invalid("%s must be an http or https URL", cfg.Key)
		}
	}
	return normCategory(cfg.Category)
}

// normCategory validates a category, defaulting an empty one to "general".
func normCategory(c string) (string, error) {
	if c == "" {
		return CategoryGeneral, nil
	}
	if len(c) > MaxCategoryLen {
		return "", invalid("category %q is longer than %d characters", truncate(c, 40), MaxCategoryLen)
	}
	for i, r := range c {
		ok := (r >= 'a' && r <= 'z') || (i > 0 && ((r >= '0' && r <= '9') || r == '-' || r == '_'))
		if !ok {
			return "", invalid("category %q must be lowercase letters, digits, - and _", truncate(c, 40))
		}
	}
	return c, nil
}
