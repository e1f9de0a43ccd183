## store-raftstore-porcupine-long: porcupine linearizability check over 300 fault cycles (transfers, isolated leaders, restarts)
store-raftstore-porcupine-long:
	FSA_PORCUPINE_CYCLES=$${FSA_PORCUPINE_CYCLES:-300} $(GO) test -race -count=1 -timeout=90m -run='^TestPorcupineLinearizable$$' -v ./store/raftstore/

.PHONY: store-raftstore-porcupine-long
