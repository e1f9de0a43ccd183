package raftstore

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is returned by calls that only the leader serves (Commit, a linearizable
	// View, Barrier, Join, Remove, TransferLeadership) when this node is not the leader. The
	// error is a *NotLeaderError naming the leader, if one is known.
	ErrNotLeader = errors.New("raftstore: not the leader")

	// ErrNoLeader is returned by WaitLeader when no leader emerged before its context ended.
	ErrNoLeader = errors.New("raftstore: no leader")
)

// NotLeaderError says which node leads, so the caller can send the request there.
// errors.Is(err, ErrNotLeader) holds for it.
type NotLeaderError struct {
	// LeaderID and LeaderAddress name the current leader as this node knows it; both are empty
	// while an election is under way.
	LeaderID      string
	LeaderAddress string
	// Uncertain is true when this node lost leadership after accepting the request: the
	// transaction may or may not have committed. A compare-and-swap transaction can be retried
	// safely on the new leader (a duplicate fails its precondition); the caller must re-read
	// before retrying anything else.
	Uncertain bool
}

func (e *NotLeaderError) Error() string {
	msg := "raftstore: not the leader"
	if e.Uncertain {
		msg = "raftstore: leadership lost; the transaction may have committed"
	}
	if e.LeaderID == "" && e.LeaderAddress == "" {
		return msg + " (no leader known)"
	}
	return fmt.Sprintf("%s (leader %s at %s)", msg, e.LeaderID, e.LeaderAddress)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
