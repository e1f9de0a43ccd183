package kbstandin

// Cluster phases, as KubeBlocks names them.
const (
	PhaseCreating = "Creating"
	PhaseRunning  = "Running"
	PhaseUpdating = "Updating"
	PhaseStopping = "Stopping"
	PhaseStopped  = "Stopped"
	PhaseDeleting = "Deleting"
)

// transitional reports whether a phase only lasts Options.Delay before the next one.
func transitional(phase string) bool {
	switch phase {
	case PhaseCreating, PhaseUpdating, PhaseStopping, PhaseDeleting:
		return true
	}
	return false
}

// nextPhase returns the phase a live (not deleted) Cluster should have now, given its current
// phase, whether its spec asks for running replicas, and whether its current phase, if
// transitional, has lasted the delay. It returns phase itself when nothing is to change.
func nextPhase(phase string, wantRunning, settled bool) string {
	if transitional(phase) && !settled {
		return phase
	}
	switch phase {
	case "":
		return PhaseCreating
	case PhaseRunning:
		if wantRunning {
			return PhaseRunning
		}
		return PhaseStopping
	case PhaseStopped:
		if wantRunning {
			return PhaseUpdating
		}
		return PhaseStopped
	case PhaseStopping:
		if wantRunning {
			return PhaseUpdating
		}
		return PhaseStopped
	case PhaseCreating, PhaseUpdating:
		if wantRunning {
			return PhaseRunning
		}
		return PhaseStopping
	default: // Deleting on a live object, Failed, Abnormal, anything unknown: recover
		if wantRunning {
			return PhaseUpdating
		}
		return PhaseStopping
	}
}
