package raftstore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/fullstackagent/fsa/store"
)

// commandType is the first byte of every log entry this package writes; the payload follows.
// Values are part of the on-disk log format: never renumber, only add.
type commandType uint8

const (
	// cmdTxn carries a JSON-encoded store.Txn.
	cmdTxn commandType = 1
)

func (t commandType) String() string {
	switch t {
	case cmdTxn:
		return "txn"
	}
	return fmt.Sprintf("command(%d)", uint8(t))
}

// encodeTxn returns the log entry for txn.
func encodeTxn(txn store.Txn) ([]byte, error) {
	payload, err := json.Marshal(txn)
	if err != nil {
		return nil, fmt.Errorf("encode transaction: %w", err)
	}
	buf := make([]byte, 0, 1+len(payload))
	buf = append(buf, byte(cmdTxn))
	return append(buf, payload...), nil
}

// decodeCommand splits a log entry into its type and payload. An entry this version cannot
// decode means the log was written by something else or is corrupt: the state machine cannot
// skip it without diverging from the other nodes, so the caller panics.
func decodeCommand(data []byte) (commandType, store.Txn, error) {
	if len(data) == 0 {
		return 0, store.Txn{}, fmt.Errorf("empty log entry")
	}
	t := commandType(data[0])
	switch t {
	case cmdTxn:
		// Unknown fields are refused: a field written by a newer version that this version
		// would ignore could make this node apply the entry differently from the others.
		dec := json.NewDecoder(bytes.NewReader(data[1:]))
		dec.DisallowUnknownFields()
		var txn store.Txn
		if err := dec.Decode(&txn); err != nil {
			return t, store.Txn{}, fmt.Errorf("decode %v entry: %w", t, err)
		}
		if dec.More() {
			return t, store.Txn{}, fmt.Errorf("decode %v entry: trailing data", t)
		}
		// So are unknown record kinds: the proposer validated the transaction, so a kind this
		// version does not know was written by a newer one, and refusing it as invalid here
		// while newer nodes apply it would diverge.
		for _, c := range txn.Conds {
			if !c.Kind.Valid() {
				return t, store.Txn{}, fmt.Errorf("decode %v entry: record kind %q unknown to this version", t, c.Kind)
			}
		}
		for _, op := range txn.Ops {
			if !op.Record.Kind.Valid() {
				return t, store.Txn{}, fmt.Errorf("decode %v entry: record kind %q unknown to this version", t, op.Record.Kind)
			}
		}
		return t, txn, nil
	}
	return t, store.Txn{}, fmt.Errorf("unknown log entry type %v", t)
}
