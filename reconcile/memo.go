package reconcile

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// upToDate remembers, per child, that its last sync found Kubernetes as desired and recorded
// nothing, and what that finding rested on, so that a sync with nothing new (a resync, an
// event of a pod that changed nothing fsa reads) costs a lookup instead of reading the store,
// building the desired objects and comparing them with the cached ones.
//
// What a sync reads comes from two places, and each has its version:
//   - the store: the project with its children, its environment and its owner's settings. Every
//     change of them reaches the runner on the change feed (onStoreChange), which counts the
//     changes per project and per user; a feed listed again (compaction) forgets everything.
//   - the informer caches: the child's objects, its pods, its database's credentials. Their
//     resourceVersions, read before anything else (a child's observe), are its fingerprint.
//
// A sync takes the counters before it reads the store and the fingerprint before it reads the
// caches, so whatever changes while it runs makes the remembered versions older than the
// current ones: the next sync then does the whole work. An entry also expires (ttl), which
// bounds what an input missing from the versions could cost.
type upToDate struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	listings uint64            // feed listings: each forgets every entry
	projects map[string]uint64 // project id → changes seen on the feed
	users    map[string]uint64 // user id → changes of their settings seen on the feed
	entries  map[item]memoEntry
}

// baseline, set by benchmarks only (export_test.go), runs the loops as before issue 17: caches
// of whole objects, nothing remembered as up to date, every resync a listing of the store. Read
// when a runner starts its informers, at each sync and at each resync.
var baseline atomic.Bool

// noListedProjects, set by benchmarks only (export_test.go), makes runners created meanwhile read
// every project again at each child's first sync instead of starting from the listing
// (Runner.listedProject).
var noListedProjects atomic.Bool

// memoToken is what the store side of a sync rested on: the feed's counters when it began.
type memoToken struct{ listings, project, user uint64 }

// memoEntry is one child found up to date.
type memoEntry struct {
	token    memoToken
	ui       *userInformers
	observe  func() (string, bool)
	observed string
	expires  time.Time
}

// memoNote is what a reconciler reports of a sync that found its child as desired: how to
// observe the child again and what it observed before reading anything.
type memoNote struct {
	observe  func() (string, bool)
	observed string
}

func newUpToDate(ttl time.Duration, now func() time.Time) *upToDate {
	return &upToDate{ttl: ttl, now: now, projects: map[string]uint64{}, users: map[string]uint64{}, entries: map[item]memoEntry{}}
}

// token returns the counters a sync of it for user starts from.
func (m *upToDate) token(user string, it item) memoToken {
	m.mu.Lock()
	defer m.mu.Unlock()
	return memoToken{m.listings, m.projects[it.project], m.users[user]}
}

// fresh reports whether it is known up to date: nothing it rests on changed since.
func (m *upToDate) fresh(it item, tok memoToken) bool {
	if baseline.Load() {
		return false
	}
	m.mu.Lock()
	e, ok := m.entries[it]
	m.mu.Unlock()
	if !ok || e.token != tok || !m.now().Before(e.expires) {
		return false
	}
	select {
	case <-e.ui.stop: // the informers were replaced: their caches are gone
		return false
	default:
	}
	fp, ok := e.observe()
	return ok && fp == e.observed
}

// remember records it as up to date as of tok and n.
func (m *upToDate) remember(it item, tok memoToken, ui *userInformers, n *memoNote) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[it] = memoEntry{token: tok, ui: ui, observe: n.observe, observed: n.observed, expires: m.now().Add(m.ttl)}
}

// forget drops what is remembered of it.
func (m *upToDate) forget(it item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, it)
}

// projectChanged counts a change of a project, one of its children or its environment;
// removed says the project is gone.
func (m *upToDate) projectChanged(project string, removed bool, kinds ...item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.projects[project]++
	if removed {
		delete(m.projects, project)
		for _, it := range kinds {
			delete(m.entries, it)
		}
	}
}

// userChanged counts a change of a user's settings (kubeconfig, keys): every project of theirs.
func (m *upToDate) userChanged(user string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[user]++
}

// listed forgets everything: the feed was listed again, changes may have gone uncounted.
func (m *upToDate) listed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listings++
	m.entries = map[item]memoEntry{}
}

// versions is a fingerprint of cached objects: their names and resourceVersions, "-" for an
// absent one.
type versions struct{ b strings.Builder }

func (v *versions) add(o metav1.Object, exists bool) {
	if !exists || o == nil {
		v.b.WriteString("-;")
		return
	}
	v.b.WriteString(o.GetName())
	v.b.WriteByte('@')
	v.b.WriteString(o.GetResourceVersion())
	v.b.WriteByte(';')
}

// pods adds pods, in name order.
func (v *versions) pods(pods []corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	v.b.WriteByte('[')
	for i := range pods {
		v.add(&pods[i], true)
	}
	v.b.WriteByte(']')
}

func (v *versions) String() string { return v.b.String() }
