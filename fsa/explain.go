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
	for _, k := range childKinds {
		if o := k.get(&p.Children); o != nil {
			e.Children = append(e.Children, explainChild(k, o))
		}
	}
	return e
}

func explainChild(k *childKind, o ChildObject) ChildExplanation {
	c := o.Common()
	ce := ChildExplanation{Kind: k.resource, ID: c.ID, Name: o.ResourceName(), Desired: c.Desired, Observed: c.Status,
		Conditions: append([]Condition(nil), c.Conditions...), NextAction: nextAction(k.objects, c.Desired, c.Status)}
	for i := len(c.Conditions) - 1; i >= 0; i-- {
		if cd := c.Conditions[i]; cd.To == StatusError {
			ce.LastError = cd.Reason
			if cd.Message != "" {
				ce.LastError += ": " + cd.Message
			}
			break
		}
	}
	if ce.LastError == "" && c.Status == StatusError {
		ce.LastError = c.Reason
	}
	return ce
}

// nextAction says what reconcile does next to obj (a kind's Kubernetes objects).
func nextAction(obj string, desired, observed Status) string {
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
