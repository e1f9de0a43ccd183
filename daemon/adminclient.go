package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// AdminClient calls a node's admin endpoint: the backup snapshot. Cluster administration is
// the RPC ClusterService.
type AdminClient struct {
	// BaseURL is the node's API URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the admin token (a secret).
	Token string
	// HTTP is the client used; http.DefaultClient when nil.
	HTTP *http.Client
}

// CallError is a non-200 answer of the admin endpoint.
type CallError struct {
	Code int
	// Message is the server's error text.
	Message string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("fsad: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
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
