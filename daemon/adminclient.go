package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// AdminClient calls a node's /admin/v1/cluster endpoints (and, for tests, /test/v1/). Join
// follows the leader hint of a follower's answer.
type AdminClient struct {
	// BaseURL is the node's API URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the admin token (a secret).
	Token string
	// HTTP is the client used; http.DefaultClient when nil.
	HTTP *http.Client
}

// CallError is a non-200 answer of an admin or test endpoint.
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

// Status returns the node's view of the cluster.
func (c *AdminClient) Status(ctx context.Context) (ClusterStatus, error) {
	var st ClusterStatus
	err := c.Do(ctx, http.MethodGet, "/admin/v1/cluster/status", nil, &st)
	return st, err
}

// Join asks the node (or the leader it names) to add node id with its Raft and API addresses.
func (c *AdminClient) Join(ctx context.Context, id, raftAddress, apiAddress string) error {
	req := JoinRequest{ID: id, RaftAddress: raftAddress, APIAddress: apiAddress}
	target := *c
	for hop := 0; ; hop++ {
		err := target.Do(ctx, http.MethodPost, "/admin/v1/cluster/join", req, nil)
		ce, ok := NotLeader(err)
		if !ok || ce.LeaderAPIAddress == "" || hop >= 3 {
			return err
		}
		target.BaseURL = sameScheme(c.BaseURL, ce.LeaderAPIAddress)
	}
}

// Remove asks the node (the leader) to remove member id.
func (c *AdminClient) Remove(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodPost, "/admin/v1/cluster/remove", RemoveRequest{ID: id}, nil)
}

// TransferLeadership asks the node (the leader) to hand leadership over; it returns the new
// leader's id.
func (c *AdminClient) TransferLeadership(ctx context.Context) (string, error) {
	var out TransferResponse
	err := c.Do(ctx, http.MethodPost, "/admin/v1/cluster/transfer", struct{}{}, &out)
	return out.LeaderID, err
}

// Do sends a JSON request with the admin token and decodes a 200 answer into out (if non-nil).
// Other answers are a *CallError.
func (c *AdminClient) Do(ctx context.Context, method, path string, in, out any) error {
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
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

// sameScheme turns host:port into a URL with base's scheme.
func sameScheme(base, hostport string) string {
	scheme := "http"
	if u, err := url.Parse(base); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	return scheme + "://" + hostport
}

// SnapshotInfo describes a snapshot written by AdminClient.Snapshot.
type SnapshotInfo struct {
	Index, Term uint64
	Size        int64
}

// Snapshot asks the node to take a Raft snapshot of its state and copies it to w (a backup).
func (c *AdminClient) Snapshot(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/admin/v1/snapshot", nil)
	if err != nil {
		return SnapshotInfo{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAdminBody))
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		return SnapshotInfo{}, &CallError{Code: resp.StatusCode, Message: eb.Error}
	}
	var info SnapshotInfo
	info.Index, _ = strconv.ParseUint(resp.Header.Get(SnapshotIndexHeader), 10, 64)
	info.Term, _ = strconv.ParseUint(resp.Header.Get(SnapshotTermHeader), 10, 64)
	n, err := io.Copy(w, resp.Body)
	info.Size = n
	if err != nil {
		return info, fmt.Errorf("read snapshot: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return info, fmt.Errorf("read snapshot: got %d of %d bytes", n, resp.ContentLength)
	}
	return info, nil
}
