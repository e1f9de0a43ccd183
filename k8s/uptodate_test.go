package k8s_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/fullstackagent/fsa/k8s"
)

// fsaFields is what the API server records for fsa's apply of desiredService.
const fsaFields = `{"f:metadata":{"f:labels":{"f:app":{},"f:tier":{}}},` +
	`"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},` +
	`"f:selector":{}}}`

func desiredService() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", Labels: map[string]string{"app": "s", "tier": "web"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "s"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// liveService is desiredService as the API server returns it: defaults filled in, fsa's
// managed fields, and a label another manager added.
func liveService() *corev1.Service {
	s := desiredService()
	s.TypeMeta = metav1.TypeMeta{}
	s.UID, s.ResourceVersion = "uid", "7"
	s.Labels["other"] = "x"
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.ClusterIP = "10.96.0.9"
	s.Spec.SessionAffinity = corev1.ServiceAffinityNone
	s.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: k8s.FieldManager, Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fsaFields)},
		{Manager: "other", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:other":{}}}}`)},
	}
	return s
}

func TestUpToDate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired func(*corev1.Service)
		live    func(*corev1.Service)
		want    bool
	}{
		{name: "as applied, with defaults and another manager's label", want: true},
		{name: "absent", live: nil, want: false},
		{name: "typed nil", want: false},
		{name: "value changed out of band", live: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(1) }},
		{name: "label fsa states removed out of band", live: func(s *corev1.Service) { delete(s.Labels, "tier") }},
		{name: "desired value changed", desired: func(s *corev1.Service) { s.Labels["tier"] = "db" }},
		{name: "desired list element added", desired: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 81, Protocol: corev1.ProtocolTCP})
		}},
		{name: "field fsa owns no longer stated", desired: func(s *corev1.Service) { delete(s.Labels, "tier") }},
		{name: "list element fsa owns no longer stated", desired: func(s *corev1.Service) { s.Spec.Ports[0].Port = 90 },
			live: func(s *corev1.Service) { s.Spec.Ports[0].Port = 90 }},
		{name: "never applied by fsa", live: func(s *corev1.Service) { s.ManagedFields = s.ManagedFields[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := desiredService()
			if tc.desired != nil {
				tc.desired(d)
			}
			var live runtime.Object
			switch tc.name {
			case "typed nil":
				live = (*corev1.Service)(nil)
			case "absent":
			default:
				l := liveService()
				if tc.live != nil {
					tc.live(l)
				}
				live = l
			}
			assert.Equal(t, tc.want, k8s.UpToDate(d, live))
		})
	}
}

func TestUpToDateDatabase(t *testing.T) {
	spec := k8s.DatabaseSpec{Name: "db", Namespace: "ns", Project: "p", Epoch: 1}
	live := k8s.BuildDatabase(spec)
	live.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: k8s.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:componentSpecs":{}}}`)}})
	u := live.DeepCopy()
	u.Object["status"] = map[string]any{"phase": "Running"}
	assert.True(t, k8s.UpToDate(k8s.BuildDatabase(spec), u))
	spec.Stopped = true
	assert.False(t, k8s.UpToDate(k8s.BuildDatabase(spec), u), "replicas differ")
}
