package k8s

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// UpToDate reports whether server-side applying desired (as fsa applies it: see apply) over
// live, an object as the API server or an informer cache of it returned it (nil when absent),
// would change nothing.
//
// It is server-side apply's own no-op rule: every field the apply configuration states already
// has that value in live, and FieldManager (operation Apply) owns no field of live that the
// configuration no longer states (an apply would remove those). Fields other managers own are
// ignored, as server-side apply ignores them. When in doubt it says no: a redundant apply is a
// no-op on the server, a skipped one a missed repair. An idle reconciler uses it so that a
// resync of unchanged objects makes no API request.
//
// One field is not compared: the value of AnnotationEpoch. It records the epoch of the last
// write that changed the object, so a new leader's epoch is no reason to write; when
// something else differs, the write carries the new epoch. An object whose annotation is
// missing or not an epoch is not up to date.
func UpToDate(desired, live runtime.Object) bool { return Differs(desired, live) == "" }

// Differs returns where applying desired over live would change something, "" if nowhere (see
// UpToDate): a field path, "absent", "managedFields" (fsa owns a field no longer stated) or
// "unconvertible". Meant for debug logs.
func Differs(desired, live runtime.Object) string {
	if isNil(live) {
		return "absent"
	}
	if path, ok := typedDiffers(desired, live); ok {
		return path
	}
	return convertedDiffers(desired, live)
}

// convertedDiffers is Differs over the unstructured forms of desired and live.
func convertedDiffers(desired, live runtime.Object) string {
	d, err := applyConfig(desired)
	if err != nil {
		return "unconvertible"
	}
	var l map[string]any
	if u, isU := live.(*unstructured.Unstructured); isU {
		l = u.Object // read only
	} else {
		var err error
		if l, err = runtime.DefaultUnstructuredConverter.ToUnstructured(live); err != nil {
			return "unconvertible"
		}
	}
	takeLiveEpoch(d, l)
	if path := contained(d, l); path != "" {
		return path
	}
	if !ownsOnlyStated(l, d) {
		return "managedFields"
	}
	return ""
}

// takeLiveEpoch sets the epoch annotation of configuration d (a copy) to live object l's when
// both have one and l's is an epoch, so that the comparison ignores its value (see UpToDate).
// The annotation stays stated, so fsa's ownership of it still counts as stated.
func takeLiveEpoch(d, l map[string]any) {
	da := annotations(d)
	if _, ok := da[AnnotationEpoch]; !ok {
		return
	}
	lv, ok := annotations(l)[AnnotationEpoch].(string)
	if !ok {
		return
	}
	if _, err := strconv.ParseUint(lv, 10, 64); err != nil {
		return
	}
	da[AnnotationEpoch] = lv
}

func annotations(o map[string]any) map[string]any {
	meta, _ := o["metadata"].(map[string]any)
	a, _ := meta["annotations"].(map[string]any)
	return a
}

// isNil reports whether o is nil or a typed nil pointer.
func isNil(o runtime.Object) bool {
	if o == nil {
		return true
	}
	v := reflect.ValueOf(o)
	return v.Kind() == reflect.Pointer && v.IsNil()
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
		if !ok || m["manager"] != FieldManager || m["operation"] != "Apply" {
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
