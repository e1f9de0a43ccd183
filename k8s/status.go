package k8s

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// State is the observed state of a sandbox or database. The values are the
// ones fsa stores; the SDK maps them onto its own types.
type State string

// States a sandbox or database can be observed in.
const (
	StateStarting    State = "STARTING"
	StateRunning     State = "RUNNING"
	StateStopping    State = "STOPPING"
	StateStopped     State = "STOPPED"
	StateTerminating State = "TERMINATING"
	StateTerminated  State = "TERMINATED"
	StateError       State = "ERROR"
)

// SandboxStatus is what Kubernetes says about a sandbox.
type SandboxStatus struct {
	State State
	// Reason explains StateError (and, briefly, other states when useful).
	Reason string
	// Desired, Ready: replica counts of the StatefulSet.
	Desired, Ready int32
}

// waitingErrors are container Waiting reasons that will not clear by
// themselves: the sandbox needs attention.
var waitingErrors = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"PreStartHookError":          true,
	"PostStartHookError":         true,
}

// maxReason bounds the length of a Reason; container messages can be long.
const maxReason = 300

// SandboxStatusOf maps a StatefulSet and its pods onto a SandboxStatus. sts
// nil means the sandbox does not exist. It is a pure function:
//
//   - absent: TERMINATED; being deleted: TERMINATING;
//   - scaled to zero: STOPPING while any pod remains or the controller has not
//     caught up, STOPPED after;
//   - a pod with a container stuck Waiting for a reason that will not clear
//     (CrashLoopBackOff, ImagePullBackOff, ...): ERROR with that reason;
//   - the controller has seen the current generation and every desired
//     replica is up to date and ready: RUNNING;
//   - otherwise STARTING.
func SandboxStatusOf(sts *appsv1.StatefulSet, pods []corev1.Pod) SandboxStatus {
	if sts == nil {
		return SandboxStatus{State: StateTerminated}
	}
	desired := int32(1)
	if sts.Spec.Replicas != nil {
		desired = *sts.Spec.Replicas
	}
	st := SandboxStatus{Desired: desired, Ready: sts.Status.ReadyReplicas}
	observed := sts.Status.ObservedGeneration >= sts.Generation
	switch {
	case sts.DeletionTimestamp != nil:
		st.State = StateTerminating
	case desired == 0:
		if len(pods) > 0 || !observed || sts.Status.Replicas != 0 {
			st.State = StateStopping
		} else {
			st.State = StateStopped
		}
	default:
		if reason := podError(pods); reason != "" {
			st.State, st.Reason = StateError, reason
		} else if observed &&
			sts.Status.Replicas == desired &&
			sts.Status.ReadyReplicas == desired &&
			sts.Status.UpdatedReplicas == desired {
			st.State = StateRunning
		} else {
			st.State = StateStarting
		}
	}
	return st
}

// podError returns why a pod cannot run, or "" if none of them is stuck.
// Pods are looked at in name order so the answer is deterministic.
func podError(pods []corev1.Pod) string {
	sorted := make([]*corev1.Pod, len(pods))
	for i := range pods {
		sorted[i] = &pods[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, p := range sorted {
		if p.DeletionTimestamp != nil {
			continue
		}
		statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, cs := range statuses {
			w := cs.State.Waiting
			if w == nil || !waitingErrors[w.Reason] {
				continue
			}
			r := fmt.Sprintf("pod %s container %s: %s", p.Name, cs.Name, w.Reason)
			if w.Message != "" {
				r += ": " + w.Message
			}
			return truncate(r, maxReason)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// DatabaseStatus is what Kubernetes says about a database.
type DatabaseStatus struct {
	State State
	// Reason explains StateError.
	Reason string
	// Phase is the KubeBlocks cluster phase as found.
	Phase string
}

// KubeBlocks Cluster phases.
const (
	PhaseCreating = "Creating"
	PhaseRunning  = "Running"
	PhaseUpdating = "Updating"
	PhaseStopping = "Stopping"
	PhaseStopped  = "Stopped"
	PhaseDeleting = "Deleting"
	PhaseFailed   = "Failed"
	PhaseAbnormal = "Abnormal"
)

// DatabaseStateOfPhase maps a KubeBlocks Cluster phase onto a State. An empty
// phase (not yet reconciled) and unknown phases are STARTING.
func DatabaseStateOfPhase(phase string) State {
	switch phase {
	case PhaseRunning:
		return StateRunning
	case PhaseStopping:
		return StateStopping
	case PhaseStopped:
		return StateStopped
	case PhaseDeleting:
		return StateTerminating
	case PhaseFailed, PhaseAbnormal:
		return StateError
	default: // "", Creating, Updating, and phases of newer KubeBlocks.
		return StateStarting
	}
}

// DatabaseStatusOf maps a KubeBlocks Cluster onto a DatabaseStatus; nil means
// the cluster does not exist. It is a pure function.
func DatabaseStatusOf(cluster *unstructured.Unstructured) DatabaseStatus {
	if cluster == nil {
		return DatabaseStatus{State: StateTerminated}
	}
	phase, _, _ := unstructured.NestedString(cluster.Object, "status", "phase")
	st := DatabaseStatus{State: DatabaseStateOfPhase(phase), Phase: phase}
	if cluster.GetDeletionTimestamp() != nil {
		st.State = StateTerminating
	}
	if st.State == StateError {
		st.Reason = clusterReason(cluster, phase)
	}
	return st
}

// clusterReason explains a failed cluster from its status: the messages of
// false conditions, then the per-component messages, else the bare phase.
func clusterReason(cluster *unstructured.Unstructured, phase string) string {
	var parts []string
	conds, _, _ := unstructured.NestedSlice(cluster.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["status"] != "False" {
			continue
		}
		typ, _ := m["type"].(string)
		msg, _ := m["message"].(string)
		if msg == "" {
			msg, _ = m["reason"].(string)
		}
		parts = append(parts, strings.TrimSpace(typ+": "+msg))
	}
	if len(parts) == 0 {
		comps, _, _ := unstructured.NestedMap(cluster.Object, "status", "components")
		names := make([]string, 0, len(comps))
		for n := range comps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			msgs, _, _ := unstructured.NestedMap(comps, n, "message")
			keys := make([]string, 0, len(msgs))
			for k := range msgs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s %s: %v", n, k, msgs[k]))
			}
		}
	}
	reason := "cluster phase " + phase
	if len(parts) > 0 {
		reason += ": " + strings.Join(parts, "; ")
	}
	return truncate(reason, maxReason)
}
