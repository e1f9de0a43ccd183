package k8s_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/fullstackagent/fsa/k8s"
)

// TestTypedDiffersAgreesWithConversion holds the typed comparison to the answer of comparing
// the unstructured forms, over a sandbox's objects as a real API server returned them: as
// applied, and after 6,000 random sets of one to three changes to either side (a field set, cleared, a list
// shortened or grown, a map entry added or removed).
func TestTypedDiffersAgreesWithConversion(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(t, "typeddiff")
	spec := sandboxSpec("td1")
	spec.SecretEnv = map[string]string{"API_KEY": "s3cret"}
	spec.LiveKeys = []string{"DATABASE_URL"}
	spec.Network = &k8s.NetworkSpec{RestrictEgress: true, DatabaseName: "td1-db"}
	require.NoError(t, k8s.SandboxManager{}.Apply(ctx, e.client, spec))

	cs, ns := e.cluster.Clientset(), e.user.Namespace
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(t, err)
	desired, err := k8s.DesiredSandbox(e.client, spec, sts)
	require.NoError(t, err)
	svc, err := cs.CoreV1().Services(ns).Get(ctx, desired.Service.Name, metav1.GetOptions{})
	require.NoError(t, err)
	app, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, desired.AppIngress.Name, metav1.GetOptions{})
	require.NoError(t, err)
	term, err := cs.NetworkingV1().Ingresses(ns).Get(ctx, desired.TerminalIngress.Name, metav1.GetOptions{})
	require.NoError(t, err)
	sec, err := cs.CoreV1().Secrets(ns).Get(ctx, desired.Secret.Name, metav1.GetOptions{})
	require.NoError(t, err)
	np, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, desired.NetworkPolicy.Name, metav1.GetOptions{})
	require.NoError(t, err)

	pairs := []struct {
		what          string
		desired, live runtime.Object
	}{
		{"statefulset", desired.StatefulSet, sts}, {"service", desired.Service, svc},
		{"app ingress", desired.AppIngress, app}, {"terminal ingress", desired.TerminalIngress, term},
		{"secret", desired.Secret, sec}, {"network policy", desired.NetworkPolicy, np},
	}
	for _, p := range pairs {
		t.Run(p.what, func(t *testing.T) {
			path, ok := k8s.TypedDiffers(p.desired, p.live)
			require.True(t, ok, "the typed walk knows every type of a %s", p.what)
			require.Empty(t, path, "as applied")
			require.Empty(t, k8s.ConvertedDiffers(p.desired, p.live), "as applied")

			same, differ := 0, 0
			for seed := range uint64(1000) {
				rng := rand.New(rand.NewPCG(seed, 17))
				d, l := p.desired.DeepCopyObject(), p.live.DeepCopyObject()
				var what []string
				for range 1 + seed%3 { // one to three changes, to either side
					side, target := "desired", d
					if rng.IntN(2) == 1 {
						side, target = "live", l
					}
					what = append(what, side+" "+mutate(rng, target))
				}
				typed, ok := k8s.TypedDiffers(d, l)
				require.True(t, ok, "seed %d: %v: the typed walk gave up", seed, what)
				converted := k8s.ConvertedDiffers(d, l)
				require.Equal(t, converted == "", typed == "",
					"seed %d: %v: typed says %q, converted %q", seed, what, typed, converted)
				if typed == "" {
					same++
				} else {
					differ++
				}
			}
			t.Logf("%s: %d changes left it up to date, %d made it differ", p.what, same, differ)
			require.Positive(t, same)
			require.Positive(t, differ)
		})
	}
}

// mutate makes one random change to obj (never to its managedFields, whose fieldsV1 are JSON)
// and says what it changed.
func mutate(rng *rand.Rand, obj runtime.Object) string {
	type site struct {
		path string
		v    reflect.Value
	}
	var sites []site
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if v.CanSet() {
			sites = append(sites, site{path, v})
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[metav1.Time]() {
				return
			}
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if !f.IsExported() || f.Name == "ManagedFields" {
					continue
				}
				walk(path+"."+f.Name, v.Field(i))
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		}
	}
	walk("", reflect.ValueOf(obj).Elem())
	s := sites[rng.IntN(len(sites))]
	v := s.v
	switch v.Kind() {
	case reflect.String:
		if v.Len() > 0 && rng.IntN(2) == 0 {
			v.SetString("")
			return s.path + " cleared"
		}
		v.SetString(v.String() + "x")
		return s.path + " changed"
	case reflect.Bool:
		v.SetBool(!v.Bool())
		return s.path + " flipped"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() != 0 && rng.IntN(2) == 0 {
			v.SetInt(0)
			return s.path + " zeroed"
		}
		v.SetInt(v.Int() + 1)
		return s.path + " incremented"
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			v.SetZero()
			return s.path + " set to nil"
		}
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.New(v.Type().Elem()))
			return s.path + " set to a zero value"
		}
	case reflect.Slice:
		switch {
		case v.Len() > 0 && rng.IntN(3) == 0:
			v.Set(v.Slice(0, v.Len()-1))
			return s.path + " shortened"
		case v.Len() > 0 && rng.IntN(2) == 0:
			v.Set(reflect.Append(v, v.Index(0)))
			return s.path + " grown by a copy of its first element"
		case !v.IsNil():
			v.SetZero()
			return s.path + " set to nil"
		default:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return s.path + " set to empty"
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			break
		}
		if v.Len() > 0 && rng.IntN(2) == 0 {
			keys := v.MapKeys()
			v.SetMapIndex(keys[rng.IntN(len(keys))], reflect.Value{})
			return s.path + " lost an entry"
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		v.SetMapIndex(reflect.ValueOf("added").Convert(v.Type().Key()), reflect.Zero(v.Type().Elem()))
		return s.path + " gained an entry"
	case reflect.Struct:
		v.SetZero()
		return s.path + " zeroed"
	}
	return s.path + " left alone"
}

// BenchmarkDiffers compares a sandbox's objects, as applied, with their live copies from the
// API server: the typed walk and the comparison of unstructured forms, side by side.
//
//	go test -run '^$' -bench BenchmarkDiffers -benchmem ./k8s/
func BenchmarkDiffers(b *testing.B) {
	e := newEnv(b, "benchdiff")
	ctx := b.Context()
	spec := sandboxSpec("bd1")
	spec.SecretEnv = map[string]string{"API_KEY": "s3cret"}
	require.NoError(b, k8s.SandboxManager{}.Apply(ctx, e.client, spec))
	cs, ns := e.cluster.Clientset(), e.user.Namespace
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	require.NoError(b, err)
	desired, err := k8s.DesiredSandbox(e.client, spec, sts)
	require.NoError(b, err)
	svc, err := cs.CoreV1().Services(ns).Get(ctx, desired.Service.Name, metav1.GetOptions{})
	require.NoError(b, err)
	for _, p := range []struct {
		what          string
		desired, live runtime.Object
	}{{"statefulset", desired.StatefulSet, sts}, {"service", desired.Service, svc}} {
		b.Run(p.what+"/typed", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if path, ok := k8s.TypedDiffers(p.desired, p.live); !ok || path != "" {
					b.Fatalf("typed: %q %v", path, ok)
				}
			}
		})
		b.Run(p.what+"/converted", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if path := k8s.ConvertedDiffers(p.desired, p.live); path != "" {
					b.Fatalf("converted: %q", path)
				}
			}
		})
	}
}

// TestOnlyStructsConvert holds what the typed comparison assumes: among the types of the
// objects fsa writes, only structs (and pointers to them) have converters of their own.
func TestOnlyStructsConvert(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if k := typ.Kind(); k != reflect.Struct && k != reflect.Pointer {
			require.False(t, value.TypeReflectEntryOf(typ).CanConvertToUnstructured(), "%v converts by itself", typ)
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Array:
			walk(typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				walk(typ.Field(i).Type)
			}
		}
	}
	for _, o := range []any{appsv1.StatefulSet{}, corev1.Service{}, corev1.Secret{}, networkingv1.Ingress{}, networkingv1.NetworkPolicy{}} {
		walk(reflect.TypeOf(o))
	}
	require.Greater(t, len(seen), 100, "the walk reached the objects' types")
}
