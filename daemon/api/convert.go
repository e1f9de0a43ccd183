package api

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// Conversions between the SDK's types and the wire types, all in this file.

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func rev(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

func toStatus(s fsa.Status) fsav1.Status {
	if v, ok := fsav1.Status_value["STATUS_"+string(s)]; ok {
		return fsav1.Status(v)
	}
	return fsav1.Status_STATUS_UNSPECIFIED
}

func toRole(r fsa.Role, admin bool) fsav1.Role {
	if admin || r == fsa.RoleAdmin {
		return fsav1.Role_ROLE_ADMIN
	}
	return fsav1.Role_ROLE_USER
}

func toUser(u *fsa.User, admin bool) *fsav1.User {
	return &fsav1.User{Id: u.ID, Name: u.Name, Email: u.Email, Role: toRole(u.Role, admin)}
}

func toConditions(cs []fsa.Condition) []*fsav1.Condition {
	out := make([]*fsav1.Condition, 0, len(cs))
	for _, c := range cs {
		out = append(out, &fsav1.Condition{Time: ts(c.Time), From: toStatus(c.From), To: toStatus(c.To), Reason: c.Reason, Message: c.Message})
	}
	return out
}

// toProject converts p with its children (set by reads, unset in watch events).
func toProject(p *fsa.Project) *fsav1.Project {
	out := &fsav1.Project{
		Id: p.ID, Name: p.Name, K8SName: p.K8sName, Description: p.Description, Status: toStatus(p.Status),
		CreatedAt: ts(p.CreatedAt), UpdatedAt: ts(p.UpdatedAt), Version: rev(p.Version),
		Lifecycle: toLifecycle(p),
	}
	if p.Sandbox != nil {
		out.Sandbox = toSandbox(p.Sandbox)
	}
	if p.Database != nil {
		out.Database = toDatabase(p.Database)
	}
	if p.Size != nil {
		out.Size = toSize(*p.Size)
	}
	return out
}

func toSize(s fsa.Size) *fsav1.ProjectSize {
	return &fsav1.ProjectSize{Class: s.Class, CpuMillis: s.CPU, CpuRequestMillis: s.CPURequest, MemoryBytes: s.Memory,
		MemoryRequestBytes: s.MemoryRequest, HomeBytes: s.Home, DatabaseBytes: s.Database, DatabaseCpuMillis: s.DatabaseCPU,
		DatabaseMemoryBytes: s.DatabaseMemory}
}

func fromSizeRequest(r *fsav1.SizeRequest) fsa.SizeSpec {
	if r == nil {
		return fsa.SizeSpec{}
	}
	return fsa.SizeSpec{Class: r.Class, CPU: r.Cpu, Memory: r.Memory, Home: r.Home, Database: r.Database}
}

func toQuota(q *fsa.Quota) *fsav1.Quota {
	l, u := q.Limits, q.Usage
	return &fsav1.Quota{
		Limits: &fsav1.Limits{Projects: int32(l.Projects), Running: int32(l.Running), CpuMillis: l.CPU, MemoryBytes: l.Memory, StorageBytes: l.Storage},
		Custom: q.Custom,
		Usage:  &fsav1.Usage{Projects: int32(u.Projects), Running: int32(u.Running), CpuMillis: u.CPU, MemoryBytes: u.Memory, StorageBytes: u.Storage},
	}
}

func fromLimits(l *fsav1.Limits) fsa.Limits {
	if l == nil {
		return fsa.Limits{}
	}
	return fsa.Limits{Projects: int(l.Projects), Running: int(l.Running), CPU: l.CpuMillis, Memory: l.MemoryBytes, Storage: l.StorageBytes}
}

func toSandbox(sb *fsa.Sandbox) *fsav1.Sandbox {
	out := &fsav1.Sandbox{
		Id: sb.ID, ProjectId: sb.ProjectID, Name: sb.Name, Status: toStatus(sb.Status), PublicApp: sb.PublicApp(),
		TerminalUrl: sb.TerminalURL, Reason: sb.Reason, Conditions: toConditions(sb.Conditions), Version: rev(sb.Version),
		Namespace: sb.Namespace, Server: sb.Server,
	}
	if sb.PublicApp() {
		// A private app has no public URL to advertise.
		out.AppUrl = sb.AppURL
	}
	return out
}

func toDatabase(db *fsa.Database) *fsav1.Database {
	return &fsav1.Database{
		Id: db.ID, ProjectId: db.ProjectID, ClusterName: db.ClusterName, Status: toStatus(db.Status),
		Reason: db.Reason, Conditions: toConditions(db.Conditions), Version: rev(db.Version),
		Namespace: db.Namespace, Server: db.Server,
	}
}

func toKind(k fsa.ResourceKind) fsav1.ResourceKind {
	switch k {
	case fsa.ResourceProject:
		return fsav1.ResourceKind_RESOURCE_KIND_PROJECT
	case fsa.ResourceSandbox:
		return fsav1.ResourceKind_RESOURCE_KIND_SANDBOX
	case fsa.ResourceDatabase:
		return fsav1.ResourceKind_RESOURCE_KIND_DATABASE
	}
	return fsav1.ResourceKind_RESOURCE_KIND_UNSPECIFIED
}

// toWatchMessage converts a project, sandbox or database change; nil for the other kinds
// (environment and configuration changes are not part of the WatchProjects stream).
func toWatchMessage(revision int64, ch fsa.ResourceChange) *fsav1.WatchProjectsResponse {
	msg := &fsav1.WatchProjectsResponse{Revision: rev(revision), Type: fsav1.EventType_EVENT_TYPE_PUT, Kind: toKind(ch.Kind)}
	if ch.Deleted {
		msg.Type = fsav1.EventType_EVENT_TYPE_DELETE
	}
	switch ch.Kind {
	case fsa.ResourceProject:
		msg.Resource = &fsav1.WatchProjectsResponse_Project{Project: toProject(ch.Project)}
	case fsa.ResourceSandbox:
		msg.Resource = &fsav1.WatchProjectsResponse_Sandbox{Sandbox: toSandbox(ch.Sandbox)}
	case fsa.ResourceDatabase:
		msg.Resource = &fsav1.WatchProjectsResponse_Database{Database: toDatabase(ch.Database)}
	default:
		return nil
	}
	return msg
}

func toExplanation(e *fsa.Explanation) *fsav1.Explanation {
	out := &fsav1.Explanation{ProjectId: e.Project.ID, ProjectStatus: toStatus(e.Project.Status)}
	// The revision the explanation reflects: the newest change among the records it read.
	r := e.Project.Version
	if sb := e.Project.Sandbox; sb != nil {
		r = max(r, sb.Version)
	}
	if db := e.Project.Database; db != nil {
		r = max(r, db.Version)
	}
	out.Revision = rev(r)
	for _, c := range e.Children {
		next := c.NextAction
		if strings.HasPrefix(next, "none") {
			next = "" // settled
		}
		out.Children = append(out.Children, &fsav1.ChildExplanation{
			Kind: toKind(c.Kind), Id: c.ID, Desired: toStatus(c.Desired), Observed: toStatus(c.Observed),
			LastError: c.LastError, NextAction: next, Conditions: toConditions(c.Conditions),
		})
	}
	return out
}

// toEnvVar converts v; a secret value is sent only when reveal is set (and never the
// platform's terminal token, which the SDK already withholds).
func toEnvVar(v *fsa.EnvVar, reveal bool) *fsav1.EnvVar {
	out := &fsav1.EnvVar{Key: v.Key, Value: v.Value, Category: v.Category, Secret: v.Secret, Redacted: v.Redacted, PlatformOwned: v.Platform}
	if v.Secret && !reveal {
		out.Value, out.Redacted = "", true
	}
	return out
}

func toEnvVars(vs []*fsa.EnvVar, reveal bool) []*fsav1.EnvVar {
	out := make([]*fsav1.EnvVar, 0, len(vs))
	for _, v := range vs {
		out = append(out, toEnvVar(v, reveal))
	}
	return out
}

// Configuration keys as the wire names them.
var configWireKeys = map[string]string{
	fsa.ConfigKubeconfig:          "kubeconfig",
	fsa.ConfigAnthropicAPIKey:     "anthropic.api_key",
	fsa.ConfigAnthropicBaseURL:    "anthropic.base_url",
	fsa.ConfigAnthropicModel:      "anthropic.model",
	fsa.ConfigAnthropicSmallModel: "anthropic.small_fast_model",
	fsa.ConfigGitHubToken:         "github.token",
	fsa.ConfigIdleTimeout:         "lifecycle.idle_timeout",
	fsa.ConfigDeleteStoppedAfter:  "lifecycle.delete_stopped_after",
}

var configWireCategories = map[string]string{
	fsa.CategoryKubeconfig: "kubernetes",
}

// toConfigEntry converts a user setting; reveal says whether a secret value may be sent.
func toConfigEntry(c *fsa.UserConfig, reveal bool) *fsav1.ConfigEntry {
	key, ok := configWireKeys[c.Key]
	if !ok {
		key = strings.ToLower(c.Key)
	}
	cat, ok := configWireCategories[c.Category]
	if !ok {
		cat = c.Category
	}
	out := &fsav1.ConfigEntry{Key: key, Value: c.Value, Category: cat, Secret: c.Secret, Redacted: c.Redacted}
	if c.Secret && !reveal {
		out.Value, out.Redacted = "", true
	}
	return out
}

func toMember(m Member) *fsav1.ClusterMember {
	s := fsav1.Suffrage_SUFFRAGE_NONVOTER
	if m.Voter {
		s = fsav1.Suffrage_SUFFRAGE_VOTER
	}
	return &fsav1.ClusterMember{Id: m.ID, Address: m.RaftAddress, ApiAddress: m.APIAddress, Suffrage: s, Leader: m.Leader}
}
