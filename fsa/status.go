package fsa

import "fmt"

// Status is the lifecycle state of a project, sandbox or database.
//
// The API records intent (CREATING, STARTING, STOPPING, TERMINATING); reconcile records what
// Kubernetes reports (RUNNING, STOPPED, TERMINATED, ERROR). PARTIAL exists only for projects,
// when children disagree in a way no other rule covers.
type Status string

// Statuses.
const (
	StatusCreating    Status = "CREATING"
	StatusStarting    Status = "STARTING"
	StatusRunning     Status = "RUNNING"
	StatusStopping    Status = "STOPPING"
	StatusStopped     Status = "STOPPED"
	StatusTerminating Status = "TERMINATING"
	StatusTerminated  Status = "TERMINATED"
	StatusError       Status = "ERROR"
	StatusPartial     Status = "PARTIAL"
)

// Statuses lists every status.
var Statuses = []Status{StatusCreating, StatusStarting, StatusRunning, StatusStopping, StatusStopped,
	StatusTerminating, StatusTerminated, StatusError, StatusPartial}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Transitional reports whether s is an intent that reconcile still has to carry out.
func (s Status) Transitional() bool {
	switch s {
	case StatusCreating, StatusStarting, StatusStopping, StatusTerminating:
		return true
	}
	return false
}

// Aggregate computes a project's status from its children's, by these rules in order:
// no children → TERMINATED; any ERROR → ERROR; any CREATING → CREATING; all equal → that status;
// all in {RUNNING, STARTING} → STARTING; all in {STOPPED, STOPPING} → STOPPING;
// all in {TERMINATED, TERMINATING} → TERMINATING; otherwise PARTIAL.
func Aggregate(children ...Status) Status {
	if len(children) == 0 {
		return StatusTerminated
	}
	all := func(set ...Status) bool {
		for _, c := range children {
			ok := false
			for _, s := range set {
				if c == s {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	for _, c := range children {
		if c == StatusError {
			return StatusError
		}
	}
	for _, c := range children {
		if c == StatusCreating {
			return StatusCreating
		}
	}
	switch {
	case all(children[0]):
		return children[0]
	case all(StatusRunning, StatusStarting):
		return StatusStarting
	case all(StatusStopped, StatusStopping):
		return StatusStopping
	case all(StatusTerminated, StatusTerminating):
		return StatusTerminating
	}
	return StatusPartial
}

// Action is something a user asks of a project.
type Action string

// Actions.
const (
	ActionStart  Action = "start"
	ActionStop   Action = "stop"
	ActionDelete Action = "delete"
)

// allowed is the allowed-action table, by project status.
var allowed = map[Status][]Action{
	StatusRunning:     {ActionStop, ActionDelete},
	StatusStopped:     {ActionStart, ActionDelete},
	StatusError:       {ActionStart, ActionStop, ActionDelete},
	StatusPartial:     {ActionStart, ActionStop, ActionDelete},
	StatusStarting:    {ActionStop, ActionDelete},
	StatusStopping:    {ActionStart, ActionDelete},
	StatusCreating:    {ActionDelete},
	StatusTerminating: nil,
	StatusTerminated:  nil,
}

// AllowedActions returns the actions a project in status s accepts.
func AllowedActions(s Status) []Action {
	return append([]Action(nil), allowed[s]...)
}

// CheckAction returns nil if a project in status s accepts a, else an error wrapping
// ErrFailedPrecondition that names the state.
func CheckAction(s Status, a Action) error {
	for _, x := range allowed[s] {
		if x == a {
			return nil
		}
	}
	return fmt.Errorf("%w: cannot %s a project that is %s (allowed: %v)", ErrFailedPrecondition, a, s, allowed[s])
}
