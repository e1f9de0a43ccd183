package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// The typed comparison. Differs on two typed objects of one Go type gives the answer of the
// comparison of their unstructured forms (applyConfig of desired, the conversion of live)
// without making either: converting a StatefulSet and its live copy to maps was most of an idle
// sync's CPU, and a new leader makes one idle sync per child before it is current. The walk
// follows the converter's rules (runtime.DefaultUnstructuredConverter): JSON names, omitempty
// and omitzero, inlined structs, nulls pruned from maps as applyConfig prunes them, and the
// converters of types that have their own (quantities, int-or-strings, times) at the leaves.
// Where it meets what it does not know (an interface field) it gives up and Differs converts.
// TestTypedDiffersAgreesWithConversion holds the two to one answer.

// unsupported is the path of a walk that gave up; errUnsupportedType its error.
const unsupported = "\x00unsupported"

var errUnsupportedType = errors.New("k8s: a type the typed comparison does not walk")

var (
	objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()
	pvcType        = reflect.TypeFor[corev1.PersistentVolumeClaim]()
)

// fieldInfo is a struct field as the converter sees it.
type fieldInfo struct {
	index     int
	name      string // "" for an inlined struct
	omitempty bool
	omitzero  func(reflect.Value) bool
}

// structInfo is a struct type's fields as the converter sees them.
type structInfo struct {
	fields []fieldInfo
	byName map[string]int // index in fields of each named field
	inline bool           // some field is inlined
	custom customKind     // how it converts if it has a converter of its own
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	si := &structInfo{byName: map[string]int{}, custom: customKindOf(t)}
	for i := range t.NumField() {
		f := t.Field(i)
		fi := fieldInfo{index: i}
		tag, exists := f.Tag.Lookup("json")
		items := strings.Split(tag, ",")
		fi.name = items[0]
		switch {
		case !exists || tag == "":
			fi.name = ""
		case fi.name == "" && len(items) == 2 && items[1] == "embed" && embeddable(f.Type):
			// inlined (json/v2's embed, as the converter honors it)
		}
		if fi.name == "" && !f.Anonymous {
			fi.name = f.Name
		}
		if fi.name == "-" {
			continue
		}
		for _, o := range items[1:] {
			switch o {
			case "omitempty":
				fi.omitempty = true
			case "omitzero":
				fi.omitzero = value.OmitZeroFunc(f.Type)
			}
		}
		if fi.name == "" {
			si.inline = true
		} else {
			si.byName[fi.name] = len(si.fields)
		}
		si.fields = append(si.fields, fi)
	}
	v, _ := structInfos.LoadOrStore(t, si)
	return v.(*structInfo)
}

func embeddable(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer && t.Name() == "" {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// omitted reports whether the converter leaves the field out of its map.
func (fi fieldInfo) omitted(v reflect.Value) bool {
	return fi.omitempty && isEmptyValue(v) || fi.omitzero != nil && fi.omitzero(v)
}

// isEmptyValue is the converter's omitempty test.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Map, reflect.Slice:
		return v.IsNil() || v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// customKind says how a type converts when it has its own converter.
type customKind uint8

const (
	notCustom customKind = iota
	customIntOrString
	customQuantity
	customTime
	customOther // through the type's own converter (JSON for most)
)

var (
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	quantityType    = reflect.TypeFor[resource.Quantity]()
	timeType        = reflect.TypeFor[metav1.Time]()
)

func customKindOf(t reflect.Type) customKind {
	switch {
	case t == intOrStringType:
		return customIntOrString
	case t == quantityType:
		return customQuantity
	case t == timeType:
		return customTime
	case value.TypeReflectEntryOf(t).CanConvertToUnstructured():
		return customOther
	}
	return notCustom
}

// custom returns the unstructured form of a value whose type has its own converter, and
// whether it has one. The common ones convert here as their converters would.
//
// Only structs have converters of their own among the API's types (TestOnlyStructsConvert),
// and a pointer converts as what it points to: other kinds are not looked up.
func custom(v reflect.Value) (any, bool, error) {
	if v.Kind() != reflect.Struct {
		return nil, false, nil
	}
	switch structOf(v.Type()).custom {
	case notCustom:
		return nil, false, nil
	case customIntOrString:
		ios := v.Interface().(intstr.IntOrString)
		if ios.Type == intstr.String {
			return ios.StrVal, true, nil
		}
		return int64(ios.IntVal), true, nil
	case customQuantity:
		q := v.Interface().(resource.Quantity)
		return q.String(), true, nil
	case customTime:
		return v.Interface().(metav1.Time).ToUnstructured(), true, nil
	}
	u, err := value.TypeReflectEntryOf(v.Type()).ToUnstructured(v)
	return u, true, err
}

// typedWalk compares one desired and one live typed object.
type typedWalk struct {
	liveEpoch string // live's epoch annotation, when it is an epoch
}

// typedDiffers is Differs for typed desired and live objects of one type; ok is false when the
// walk gave up.
func typedDiffers(desired, live runtime.Object) (path string, ok bool) {
	if _, isU := desired.(*unstructured.Unstructured); isU {
		return "", false
	}
	d, l := reflect.ValueOf(desired), reflect.ValueOf(live)
	if d.Kind() != reflect.Pointer || d.Type() != l.Type() || d.IsNil() || l.IsNil() || d.Elem().Kind() != reflect.Struct {
		return "", false
	}
	d, l = d.Elem(), l.Elem()
	var w typedWalk
	lm, isMeta := live.(metav1.Object)
	if isMeta {
		if e, has := lm.GetAnnotations()[AnnotationEpoch]; has {
			if _, err := strconv.ParseUint(e, 10, 64); err == nil {
				w.liveEpoch = e
			}
		}
	}
	if p := w.structs(d, l, levelObject); p != "" {
		if p == unsupported {
			return "", false
		}
		return strings.TrimPrefix(p, "."), true
	}
	if !isMeta {
		return "", false
	}
	switch owns := ownsOnlyStatedTyped(lm.GetManagedFields(), d); owns {
	case ownsYes:
		return "", true
	case ownsNo:
		return "managedFields", true
	default:
		return "", false
	}
}

// pruned reports whether the desired value v leaves its map once nulls are pruned (applyConfig):
// it converts to null, or to a non-empty map of pruned values.
func pruned(v reflect.Value) (bool, error) {
	if u, has, err := custom(v); has {
		if err != nil {
			return false, err
		}
		if u == nil {
			return true, nil
		}
		if m, isMap := u.(map[string]any); isMap && len(m) > 0 {
			return pruneNulls(runtime.DeepCopyJSONValue(m)), nil
		}
		return false, nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return true, nil
		}
		return pruned(v.Elem())
	case reflect.Slice:
		return v.IsNil(), nil
	case reflect.Map:
		if v.IsNil() {
			return true, nil
		}
		if v.Len() == 0 {
			return false, nil
		}
		it := v.MapRange()
		for it.Next() {
			p, err := pruned(it.Value())
			if err != nil || !p {
				return false, err
			}
		}
		return true, nil
	case reflect.Struct:
		n := 0
		all := true
		var ferr error
		_, err := eachField(v, reflect.Value{}, func(_ string, f, _ reflect.Value, _ bool) bool {
			n++
			p, err := pruned(f)
			if err != nil || !p {
				all, ferr = false, err
				return false
			}
			return true
		})
		if err == nil {
			err = ferr
		}
		return n > 0 && all, err
	}
	return false, nil
}

// eachField calls f with each field the converter puts in desired struct d's map (inlined
// structs' fields in place), and the same field of live struct l (of d's type) with whether
// the converter puts it in l's map, until f returns false. l may be invalid: no live fields.
func eachField(d, l reflect.Value, f func(name string, dv, lv reflect.Value, lPresent bool) bool) (bool, error) {
	for _, fi := range structOf(d.Type()).fields {
		dv := d.Field(fi.index)
		if fi.omitted(dv) {
			continue
		}
		var lv reflect.Value
		lPresent := false
		if l.IsValid() {
			lv = l.Field(fi.index)
			lPresent = !fi.omitted(lv)
		}
		if fi.name == "" {
			dv, null := deref(dv)
			if null {
				continue
			}
			if dv.Kind() != reflect.Struct {
				return false, errUnsupportedType
			}
			if lPresent {
				if lv, null = deref(lv); null {
					lv = reflect.Value{}
				}
			} else {
				lv = reflect.Value{}
			}
			more, err := eachField(dv, lv, f)
			if err != nil || !more {
				return false, err
			}
			continue
		}
		if !f(fi.name, dv, lv, lPresent) {
			return false, nil
		}
	}
	return true, nil
}

// liveField returns the field of struct l the converter would name name, and whether the
// converter puts it in l's map.
func liveField(l reflect.Value, name string) (reflect.Value, bool) {
	si := structOf(l.Type())
	if i, ok := si.byName[name]; ok {
		fi := si.fields[i]
		fv := l.Field(fi.index)
		return fv, !fi.omitted(fv)
	}
	if !si.inline {
		return reflect.Value{}, false
	}
	for _, fi := range si.fields {
		if fi.name != "" {
			continue
		}
		fv := l.Field(fi.index)
		if fi.omitted(fv) {
			continue
		}
		if fv, null := deref(fv); !null && fv.Kind() == reflect.Struct {
			if got, ok := liveField(fv, name); ok {
				return got, true
			}
		}
	}
	return reflect.Value{}, false
}

// Levels of a struct in the object, for structs.
const (
	levelObject = iota // the object itself: its status and type fields are not compared
	levelMeta          // its metadata: the epoch annotation's value is not compared
	levelNested
)

// structs compares desired struct d with live struct l (of one type), as contained compares
// their maps.
func (w *typedWalk) structs(d, l reflect.Value, level int) string {
	skipStatus := level == levelObject || d.Type() == pvcType
	path := ""
	_, err := eachField(d, l, func(name string, dv, lv reflect.Value, present bool) bool {
		if skipStatus && name == "status" || level == levelObject && (name == "apiVersion" || name == "kind") {
			return true
		}
		p, err := pruned(dv)
		if err != nil {
			path = unsupported
			return false
		}
		if p {
			return true
		}
		if !present {
			if name == "apiVersion" || name == "kind" {
				return true // an embedded object's type, dropped by typed decoding
			}
			path = "." + name
			return false
		}
		var sub string
		switch {
		case level == levelObject && name == "metadata" && dv.Type() == objectMetaType:
			sub = w.structs(dv, lv, levelMeta)
		case level == levelMeta && name == "annotations" && w.liveEpoch != "":
			sub = w.annotations(dv, lv)
		default:
			sub = w.values(dv, lv)
		}
		if sub != "" {
			path = "." + name + sub
			return false
		}
		return true
	})
	if err != nil {
		return unsupported
	}
	return path
}

// annotations compares the object's own annotations when live has an epoch: the epoch
// annotation's value is not compared (see UpToDate).
func (w *typedWalk) annotations(d, l reflect.Value) string {
	dm, lm := d.Interface().(map[string]string), l.Interface().(map[string]string)
	if lm == nil {
		return ": not a map"
	}
	for k, v := range dm {
		lv, ok := lm[k]
		if !ok {
			return "." + k
		}
		if k != AnnotationEpoch && v != lv {
			return "." + k + ": value"
		}
	}
	return ""
}

// values compares a desired value that stays in its map (not pruned) with the live value.
func (w *typedWalk) values(d, l reflect.Value) string {
	if du, has, err := custom(d); has {
		if err != nil {
			return unsupported
		}
		lu, _, err := custom(l)
		if err != nil {
			return unsupported
		}
		if m, isMap := du.(map[string]any); isMap {
			m = runtime.DeepCopyJSON(m)
			pruneNulls(m)
			du = m
		}
		return containedValue(du, lu)
	}
	switch d.Kind() {
	case reflect.Pointer:
		if d.IsNil() {
			return nullAgainst(l)
		}
		if l.IsNil() {
			return ": null"
		}
		return w.values(d.Elem(), l.Elem())
	case reflect.Interface:
		return unsupported
	case reflect.Struct:
		return w.structs(d, l, levelNested)
	case reflect.Map:
		if d.IsNil() {
			return nullAgainst(l)
		}
		if l.IsNil() {
			return ": not a map"
		}
		if d.Type().Key().Kind() != reflect.String {
			return unsupported
		}
		it := d.MapRange()
		for it.Next() {
			k, dv := it.Key(), it.Value()
			p, err := pruned(dv)
			if err != nil {
				return unsupported
			}
			if p {
				continue
			}
			lv := l.MapIndex(k)
			if !lv.IsValid() {
				if k.String() == "apiVersion" || k.String() == "kind" {
					continue
				}
				return "." + k.String()
			}
			if sub := w.values(dv, lv); sub != "" {
				return "." + k.String() + sub
			}
		}
		return ""
	case reflect.Slice:
		if d.IsNil() {
			return nullAgainst(l)
		}
		if l.IsNil() {
			return ": list length"
		}
		if d.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(d.Bytes(), l.Bytes()) {
				return ": value"
			}
			return ""
		}
		if d.Len() != l.Len() {
			return ": list length"
		}
		for i := range d.Len() {
			if sub := w.values(d.Index(i), l.Index(i)); sub != "" {
				return "[" + strconv.Itoa(i) + "]" + sub
			}
		}
		return ""
	case reflect.String:
		if d.String() != l.String() {
			return ": value"
		}
	case reflect.Bool:
		if d.Bool() != l.Bool() {
			return ": value"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if d.Int() != l.Int() {
			return ": value"
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if d.Uint() != l.Uint() {
			return ": value"
		}
	case reflect.Float32, reflect.Float64:
		if d.Float() != l.Float() {
			return ": value"
		}
	default:
		return unsupported
	}
	return ""
}

// nullAgainst compares a desired null (a list element: lists keep their nulls) with live.
func nullAgainst(l reflect.Value) string {
	switch l.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if l.IsNil() {
			return ""
		}
	}
	return ": value"
}

// The managedFields half: every field fsa's Apply entry owns must still be stated by the
// desired object (ownsOnlyStated). The entry's fieldsV1 is parsed once per distinct content:
// the sandboxes of a user, and of many users, share a few shapes.

type ownsAnswer int

const (
	ownsNo ownsAnswer = iota
	ownsYes
	ownsUnknown
)

// fieldSet is a parsed fieldsV1 node: its children by kind.
type fieldSet struct {
	fields  []namedSet // "f:name"
	keys    []keyedSet // "k:{...}"
	values  []any      // "v:..."
	indexes []indexSet // "i:n"
	bad     bool       // something it could not parse
}

type namedSet struct {
	name string
	sub  *fieldSet
}

type keyedSet struct {
	key map[string]any
	sub *fieldSet
}

type indexSet struct {
	i   int
	sub *fieldSet
}

var fieldSets = struct {
	sync.Mutex
	m map[string]*fieldSet
}{m: map[string]*fieldSet{}}

// maxFieldSets bounds the parsed fieldsV1 kept (a few MiB); past it they are parsed again.
const maxFieldSets = 512

// ownerKeyed marks the fieldsV1 of an object fsa gave an owner: its ownerReferences are keyed
// by the owner's uid, so the content is one object's alone and is not kept.
const ownerKeyed = `"k:{\"uid\":`

func parsedFieldSet(raw string) *fieldSet {
	fieldSets.Lock()
	fs, ok := fieldSets.m[raw]
	fieldSets.Unlock()
	if ok {
		return fs
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return &fieldSet{bad: true}
	}
	fs = compileFieldSet(m)
	if strings.Contains(raw, ownerKeyed) {
		return fs
	}
	fieldSets.Lock()
	if len(fieldSets.m) >= maxFieldSets {
		clear(fieldSets.m)
	}
	fieldSets.m[raw] = fs
	fieldSets.Unlock()
	return fs
}

func compileFieldSet(m map[string]any) *fieldSet {
	fs := &fieldSet{}
	for k, sub := range m {
		var child *fieldSet
		if sm, ok := sub.(map[string]any); ok && len(sm) > 0 {
			child = compileFieldSet(sm)
			if child.bad {
				fs.bad = true
			}
		}
		switch {
		case k == ".":
		case strings.HasPrefix(k, "f:"):
			fs.fields = append(fs.fields, namedSet{k[2:], child})
		case strings.HasPrefix(k, "k:"):
			var key map[string]any
			if json.Unmarshal([]byte(k[2:]), &key) != nil {
				fs.bad = true
			}
			fs.keys = append(fs.keys, keyedSet{key, child})
		case strings.HasPrefix(k, "v:"):
			var v any
			if json.Unmarshal([]byte(k[2:]), &v) != nil {
				fs.bad = true
			}
			fs.values = append(fs.values, v)
		case strings.HasPrefix(k, "i:"):
			i, err := strconv.Atoi(k[2:])
			if err != nil {
				fs.bad = true
			}
			fs.indexes = append(fs.indexes, indexSet{i, child})
		default:
			fs.bad = true
		}
	}
	return fs
}

func ownsOnlyStatedTyped(entries []metav1.ManagedFieldsEntry, d reflect.Value) ownsAnswer {
	found := false
	for _, e := range entries {
		if e.Manager != FieldManager || e.Operation != metav1.ManagedFieldsOperationApply {
			continue
		}
		found = true
		if e.FieldsV1 == nil {
			continue
		}
		fs := parsedFieldSet(e.FieldsV1.GetRawString())
		if fs.bad {
			return ownsUnknown
		}
		switch ok, err := statedTyped(fs, d, true); {
		case err != nil:
			return ownsUnknown
		case !ok:
			return ownsNo
		}
	}
	if !found {
		return ownsNo
	}
	return ownsYes
}

// statedTyped is fieldsStated over the typed desired value d.
func statedTyped(fs *fieldSet, d reflect.Value, top bool) (bool, error) {
	d, null := deref(d)
	if null {
		return len(fs.fields)+len(fs.keys)+len(fs.values)+len(fs.indexes) == 0, nil
	}
	if len(fs.fields) > 0 || len(fs.keys) > 0 || len(fs.values) > 0 || len(fs.indexes) > 0 {
		if _, has, _ := custom(d); has {
			return false, errUnsupportedType // owned fields below a custom-converted value
		}
	}
	for _, f := range fs.fields {
		next, ok, err := statedField(d, f.name, top)
		if err != nil || !ok {
			return false, err
		}
		if f.sub != nil {
			if ok, err := statedTyped(f.sub, next, false); err != nil || !ok {
				return false, err
			}
		}
	}
	for _, k := range fs.keys {
		next, err := keyedElement(d, k.key)
		if err != nil || !next.IsValid() {
			return false, err
		}
		if k.sub != nil {
			if ok, err := statedTyped(k.sub, next, false); err != nil || !ok {
				return false, err
			}
		}
	}
	for _, v := range fs.values {
		found, err := setValue(d, v)
		if err != nil || !found {
			return false, err
		}
	}
	for _, ix := range fs.indexes {
		if d.Kind() != reflect.Slice || ix.i < 0 || ix.i >= d.Len() {
			return false, nil
		}
		if ix.sub != nil {
			if ok, err := statedTyped(ix.sub, d.Index(ix.i), false); err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// deref follows pointers; null is true for a nil one.
func deref(v reflect.Value) (reflect.Value, bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return v, true
		}
		v = v.Elem()
	}
	return v, false
}

// statedField returns the field or map entry name of d if the apply configuration states it.
func statedField(d reflect.Value, name string, top bool) (reflect.Value, bool, error) {
	switch d.Kind() {
	case reflect.Struct:
		if top && name == "status" || name == "status" && d.Type() == pvcType {
			return reflect.Value{}, false, nil
		}
		f, present := liveField(d, name)
		if !present {
			return reflect.Value{}, false, nil
		}
		p, err := pruned(f)
		return f, !p, err
	case reflect.Map:
		if d.Type().Key().Kind() != reflect.String {
			return reflect.Value{}, false, errUnsupportedType
		}
		f := d.MapIndex(reflect.ValueOf(name).Convert(d.Type().Key()))
		if !f.IsValid() {
			return f, false, nil
		}
		p, err := pruned(f)
		return f, !p, err
	}
	return reflect.Value{}, false, nil
}

// keyedElement returns the element of list d whose key fields have the key's values.
func keyedElement(d reflect.Value, key map[string]any) (reflect.Value, error) {
	if d.Kind() != reflect.Slice {
		return reflect.Value{}, nil
	}
	for i := range d.Len() {
		e, null := deref(d.Index(i))
		if null || e.Kind() != reflect.Struct {
			continue
		}
		match := true
		for kk, kv := range key {
			f, present := liveField(e, kk)
			var fu any
			if present {
				u, err := scalarOf(f)
				if err != nil {
					return reflect.Value{}, err
				}
				fu = u
			}
			if !scalarEqual(kv, fu) {
				match = false
				break
			}
		}
		if match {
			return d.Index(i), nil
		}
	}
	return reflect.Value{}, nil
}

// setValue reports whether list d holds the scalar v.
func setValue(d reflect.Value, v any) (bool, error) {
	if d.Kind() != reflect.Slice {
		return false, nil
	}
	for i := range d.Len() {
		u, err := scalarOf(d.Index(i))
		if err != nil {
			return false, err
		}
		if scalarEqual(v, u) {
			return true, nil
		}
	}
	return false, nil
}

// scalarOf is the unstructured form of a scalar value (nil for null); other values are
// unsupported.
func scalarOf(v reflect.Value) (any, error) {
	v, null := deref(v)
	if null {
		return nil, nil
	}
	if u, has, err := custom(v); has {
		return u, err
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(v.Uint()), nil //nolint:gosec // JSON numbers of the API are int64
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	}
	return nil, errUnsupportedType
}
