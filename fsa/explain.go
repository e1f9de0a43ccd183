package fsa

import (
	"context"
	"fmt"
)

// Explanation says, for each child of a project, what the user asked for, what Kubernetes
// reports, what went wrong last, and what reconcile will do next.
type Explanation struct {
	Project  *Project
	Children []ChildExplanation
}

// ChildExplanation explains one sandbox or database.
type ChildExplanation struct {
	Kind       ResourceKind
	ID         string
	Name       string // Kubernetes name
	Desired    Status
	Observed   Status
	LastError  string
	NextAction string
	Conditions []Condition
}

// Explain returns the explanation of one of the user's projects.
func (c *Client) Explain(ctx context.Context, userID, projectID string) (*Explanation, error) {
	p, err := c.GetProject(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	return Explain(p), nil
}

// Explain builds the explanation of p from its recorded state.
func Explain(p *Project) *Explanation {
	e := &Explanation{Project: p}
	if sb := p.Sandbox; sb != nil {
		e.Children = append(e.Children, explainChild(ResourceSandbox, sb.ID, sb.Name, sb.Desired, sb.Status, sb.Reason, sb.Conditions))
	}
	if db := p.Database; db != nil {
		e.Children = append(e.Children, explainChild(ResourceDatabase, db.ID, db.ClusterName, db.Desired, db.Status, db.Reason, db.Conditions))
	}
	return e
}

func explainChild(kind ResourceKind, id, name string, desired, observed Status, reason string, conds []Condition) ChildExplanation {
	ce := ChildExplanation{Kind: kind, ID: id, Name: name, Desired: desired, Observed: observed,
		Conditions: append([]Condition(nil), conds...), NextAction: nextAction(kind, desired, observed)}
	for i := len(conds) - 1; i >= 0; i-- {
		if conds[i].To == StatusError {
			ce.LastError = conds[i].Reason
			if conds[i].Message != "" {
				ce.LastError += ": " + conds[i].Message
			}
			break
		}
	}
	if ce.LastError == "" && observed == StatusError {
		ce.LastError = reason
	}
	return ce
}

func nextAction(kind ResourceKind, desired, observed Status) string {
	obj := "the StatefulSet, Service and Ingresses"
	if kind == ResourceDatabase {
		obj = "the PostgreSQL cluster"
	}
	switch observed {
	case StatusCreating:
		return fmt.Sprintf("create %s", obj)
	case StatusStarting:
		return fmt.Sprintf("scale up %s and wait until Kubernetes reports it ready", obj)
	case StatusStopping:
		return fmt.Sprintf("scale %s to zero (volumes kept) and wait until its pods are gone", obj)
	case StatusTerminating:
		return fmt.Sprintf("delete %s and wait until it is gone", obj)
	case StatusError:
		return fmt.Sprintf("retry with backoff until %s is %s", obj, desired)
	case StatusRunning, StatusStopped:
		return "none: watching for drift"
	case StatusTerminated:
		return "none: removed"
	}
	return "none"
}
