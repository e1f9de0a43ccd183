package raftstore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
)

func TestCommandRoundTrip(t *testing.T) {
	cases := map[string]store.Txn{
		"epoch only": {SetEpoch: 7},
		"full": {
			Fence: 3,
			Conds: []store.Cond{{Kind: store.KindProject, ID: "p", Version: 4}, {Kind: store.KindSandbox, ID: "s", Version: store.AnyVersion}},
			Ops: []store.Op{
				store.Put(store.Record{Kind: store.KindProject, ID: "p", Owner: "u", Parent: "x", Status: "RUNNING", Data: []byte{0, 1, 2, 0xff}}),
				store.Delete(store.KindSandbox, "s"),
			},
		},
	}
	for name, txn := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := encodeTxn(txn)
			require.NoError(t, err)
			require.Equal(t, byte(cmdTxn), data[0])
			typ, got, err := decodeCommand(data)
			require.NoError(t, err)
			require.Equal(t, cmdTxn, typ)
			require.Equal(t, txn, got)
		})
	}
}

// TestCommandFromANewerVersion: an entry with a field or a record kind this version does not
// know is refused at decoding (the state machine then stops), never applied as invalid.
func TestCommandFromANewerVersion(t *testing.T) {
	cases := map[string]string{
		"unknown field":        `{"ops":[{"type":1,"record":{"kind":"project","id":"p"}}],"future":1}`,
		"unknown kind in op":   `{"ops":[{"type":1,"record":{"kind":"future","id":"f"}}]}`,
		"unknown kind in cond": `{"conds":[{"Kind":"future","ID":"f","Version":0}],"ops":[{"type":1,"record":{"kind":"project","id":"p"}}]}`,
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := decodeCommand(append([]byte{byte(cmdTxn)}, payload...))
			require.Error(t, err)
		})
	}
	_, _, err := decodeCommand(append([]byte{byte(cmdTxn)}, `{"ops":[{"type":1,"record":{"kind":"project","id":"p"}}]}`...))
	require.NoError(t, err, "the same entry with known kinds and fields decodes")
}
