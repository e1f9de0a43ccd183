package reconcile

import (
	"encoding/json"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/fullstackagent/fsa/k8s"
)

// An idle system must not write to Kubernetes: a resync, or an event about an object's status,
// finds the objects already as desired. upToDate decides that from the informer cache, with
// server-side apply's own rule: an apply changes nothing when every field the configuration
// states already has that value and the field manager owns no field the configuration no
// longer states (those the apply would remove). When in doubt it says no, and the sync applies:
// a redundant apply is a no-op on the server, a skipped one would be a missed repair.

// applyConfigOf returns the configuration fsa applies for obj: the object without status and
// without null fields (what k8s's apply sends).
func applyConfigOf(obj runtime.Object) (map[string]any, bool) {
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = u.Object // read only
	} else {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return nil, false
		}
		delete(m, "status")
		if spec, ok := m["spec"].(map[string]any); ok {
			if vcts, ok := spec["volumeClaimTemplates"].([]any); ok {
				for _, v := range vcts {
					if vct, ok := v.(map[string]any); ok {
						delete(vct, "status")
					}
				}
			}
		}
		pruneNulls(m)
	}
	return m, true
}

// pruneNulls removes null values, and maps left empty by their removal.
func pruneNulls(v any) (empty bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			if sub, ok := e.(map[string]any); ok && len(sub) > 0 && pruneNulls(sub) {
				delete(t, k)
				continue
			}
			if _, ok := e.([]any); ok {
				pruneNulls(e)
			}
		}
		return len(t) == 0
	case []any:
		for _, e := range t {
			pruneNulls(e)
		}
	}
	return false
}

// upToDate reports whether applying desired over live (the cached object; nil when absent)
// would change nothing.
func upToDate(desired, live runtime.Object) bool { return differs(desired, live) == "" }

// differs returns where applying desired over live would change something ("" if nowhere),
// for upToDate and for debug logs.
func differs(desired, live runtime.Object) string {
	if live == nil {
		return "absent"
	}
	d, ok := applyConfigOf(desired)
	if !ok {
		return "unconvertible"
	}
	var l map[string]any
	if u, isU := live.(*unstructured.Unstructured); isU {
		l = u.Object
	} else {
		var err error
		if l, err = runtime.DefaultUnstructuredConverter.ToUnstructured(live); err != nil {
			return "unconvertible"
		}
	}
	if path := contained(d, l); path != "" {
		return path
	}
	if !ownsOnlyStated(l, d) {
		return "managedFields"
	}
	return ""
}

// contained returns the first field of the apply configuration d whose value differs in live
// object l ("" if none). Lists must match element by element (same length: an element fsa
// dropped is a change); apiVersion and kind are implied by the resource.
func contained(d, l map[string]any) string {
	for k, dv := range d {
		if k == "apiVersion" || k == "kind" {
			continue
		}
		lv, ok := l[k]
		if !ok {
			return k
		}
		if path := containedValue(dv, lv); path != "" {
			return k + path
		}
	}
	return ""
}

func containedValue(d, l any) string {
	switch dv := d.(type) {
	case map[string]any:
		lv, ok := l.(map[string]any)
		if !ok {
			return ": not a map"
		}
		for k, e := range dv {
			le, ok := lv[k]
			if !ok && (k == "apiVersion" || k == "kind") {
				continue // an embedded object's type, dropped by typed decoding
			}
			if !ok {
				return "." + k
			}
			if path := containedValue(e, le); path != "" {
				return "." + k + path
			}
		}
		return ""
	case []any:
		lv, ok := l.([]any)
		if !ok || len(lv) != len(dv) {
			return ": list length"
		}
		for i := range dv {
			if path := containedValue(dv[i], lv[i]); path != "" {
				return "[" + strconv.Itoa(i) + "]" + path
			}
		}
		return ""
	default:
		if !scalarEqual(d, l) {
			return ": value"
		}
		return ""
	}
}

func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// ownsOnlyStated reports whether every field fsa's field manager owns in live object l is still
// stated by the apply configuration d. An object fsa never applied is not up to date.
func ownsOnlyStated(l, d map[string]any) bool {
	meta, _ := l["metadata"].(map[string]any)
	entries, _ := meta["managedFields"].([]any)
	found := false
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok || m["manager"] != k8s.FieldManager || m["operation"] != "Apply" {
			continue
		}
		found = true
		fields, _ := m["fieldsV1"].(map[string]any)
		if !fieldsStated(fields, d) {
			return false
		}
	}
	return found
}

// fieldsStated walks a managedFields fieldsV1 set alongside the configuration: "f:name" is a
// field of a map, "k:{...}" the element of a list with those key fields, "v:..." a value of a
// set, "i:n" a list index, "." the node itself.
func fieldsStated(fields map[string]any, d any) bool {
	for k, sub := range fields {
		var next any
		switch {
		case k == ".":
			continue
		case strings.HasPrefix(k, "f:"):
			m, ok := d.(map[string]any)
			if !ok {
				return false
			}
			if next, ok = m[k[2:]]; !ok {
				return false
			}
		case strings.HasPrefix(k, "k:"):
			var key map[string]any
			if json.Unmarshal([]byte(k[2:]), &key) != nil {
				return false
			}
			next = listElement(d, func(e any) bool {
				em, ok := e.(map[string]any)
				if !ok {
					return false
				}
				for kk, kv := range key {
					if !scalarEqual(kv, em[kk]) {
						return false
					}
				}
				return true
			})
			if next == nil {
				return false
			}
		case strings.HasPrefix(k, "v:"):
			var v any
			if json.Unmarshal([]byte(k[2:]), &v) != nil {
				return false
			}
			if listElement(d, func(e any) bool { return scalarEqual(v, e) }) == nil {
				return false
			}
			continue
		case strings.HasPrefix(k, "i:"):
			i, err := strconv.Atoi(k[2:])
			l, ok := d.([]any)
			if err != nil || !ok || i < 0 || i >= len(l) {
				return false
			}
			next = l[i]
		default:
			return false
		}
		if sm, ok := sub.(map[string]any); ok && len(sm) > 0 && !fieldsStated(sm, next) {
			return false
		}
	}
	return true
}

func listElement(d any, match func(any) bool) any {
	l, ok := d.([]any)
	if !ok {
		return nil
	}
	for _, e := range l {
		if match(e) {
			return e
		}
	}
	return nil
}
