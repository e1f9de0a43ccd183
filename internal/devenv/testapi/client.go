package testapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client calls the test endpoints of one node.
type Client struct {
	// BaseURL is the node's API URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the admin token (a secret).
	Token string
	// HTTP is the client used; http.DefaultClient when nil.
	HTTP *http.Client
}

// idempotencyHeader carries the key of a call that may be sent more than once (WithRetryKey).
const idempotencyHeader = "Idempotency-Key"

type retryKey struct{}

// WithRetryKey returns a context under which Do sends key as the call's idempotency key, so
// that a call sent again after an uncertain failure (a timeout while the write committed) is
// answered as the first one was instead of failing on its own effect.
func WithRetryKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, retryKey{}, key)
}

// CallError is a non-200 answer.
type CallError struct {
	Code int
	// Message is the server's error text.
	Message string
	// LeaderID and LeaderAPIAddress are set by a follower answering a leader-only call (503).
	LeaderID, LeaderAPIAddress string
	// Uncertain: a write may or may not have committed.
	Uncertain bool
}

func (e *CallError) Error() string {
	msg := fmt.Sprintf("fsad: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
	if e.LeaderID != "" {
		msg += fmt.Sprintf(" (leader %s at %s)", e.LeaderID, e.LeaderAPIAddress)
	}
	return msg
}

// NotLeader reports whether err is a follower's answer to a leader-only call.
func NotLeader(err error) (*CallError, bool) {
	var ce *CallError
	if errors.As(err, &ce) && ce.Code == http.StatusServiceUnavailable {
		return ce, true
	}
	return nil, false
}

// Do sends a JSON request with the admin token and decodes a 200 answer into out (if non-nil).
// Other answers are a *CallError.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if key, ok := ctx.Value(retryKey{}).(string); ok {
		req.Header.Set(idempotencyHeader, key)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		return &CallError{Code: resp.StatusCode, Message: eb.Error, LeaderID: eb.LeaderID,
			LeaderAPIAddress: eb.LeaderAPIAddress, Uncertain: eb.Uncertain}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s answer: %w", path, err)
	}
	return nil
}
