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
