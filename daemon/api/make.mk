# daemon/api: fuzzing of the API's request validation (the seed corpus runs in `make test`).

API_FUZZTIME ?= 30s

## api-fuzz: fuzz the API's request validation (CreateProject, SetEnv, SignUp), API_FUZZTIME each
api-fuzz:
	cd $(ROOT) && for f in FuzzCreateProject FuzzSetEnv FuzzSignUp; do \
		$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(API_FUZZTIME) ./daemon/api/ || exit 1; \
	done

.PHONY: api-fuzz
