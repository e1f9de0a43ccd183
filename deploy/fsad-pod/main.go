// Command fsad-pod starts fsad in a pod of the fsad StatefulSet (deploy/kubernetes). It exists
// because fsad's --bootstrap and --join are exclusive while every pod of a StatefulSet shares one
// pod template, and the image (distroless) has no shell to choose between them.
//
// It reads the pod's name (POD_NAME, from the Downward API) and fsad's own environment, decides,
// and replaces itself with fsad (exec), passing its arguments on:
//
//   - ordinal 0 whose data directory holds no Raft state yet (no raft.db), while no other pod
//     listed in FSA_JOIN answers /readyz with 200, bootstraps a new cluster: FSA_BOOTSTRAP=true,
//     FSA_JOIN unset. (A ready peer means a cluster exists: ordinal 0 lost its volume and must
//     join it, not start a second one.)
//   - every other case joins through FSA_JOIN (the API URLs of every pod, set by the
//     manifest). Joining is idempotent, and a restarted pod that got a new IP re-registers its
//     Raft address this way.
//
// FSA_NODE_ID defaults to POD_NAME. Everything else (addresses, secrets) comes from the
// manifest's environment unchanged; fsad-pod logs no value of it.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fsadPath is where the image puts fsad.
const fsadPath = "/usr/local/bin/fsad"

func main() {
	bin := os.Getenv("FSAD_BIN")
	if bin == "" {
		bin = fsadPath
	}
	env, err := decide(os.Environ(), exists, ready)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsad-pod:", err)
		os.Exit(2)
	}
	err = syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env)
	fmt.Fprintln(os.Stderr, "fsad-pod: exec fsad:", err)
	os.Exit(1)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ready reports whether the fsad at base URL answers GET /readyz with 200 within two seconds.
func ready(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// decide returns fsad's environment for the pod described by env. exists reports whether a
// file exists; ready whether a peer's API is ready.
func decide(env []string, exists func(string) bool, ready func(url string) bool) ([]string, error) {
	get := func(k string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	}
	pod := get("POD_NAME")
	i := strings.LastIndexByte(pod, '-')
	if i < 0 {
		return nil, fmt.Errorf("POD_NAME %q: want <statefulset>-<ordinal>", pod)
	}
	ordinal, err := strconv.Atoi(pod[i+1:])
	if err != nil || ordinal < 0 {
		return nil, fmt.Errorf("POD_NAME %q: want <statefulset>-<ordinal>", pod)
	}
	dataDir := get("FSA_DATA_DIR")
	if dataDir == "" {
		return nil, errors.New("FSA_DATA_DIR is required")
	}
	bootstrap := ordinal == 0 && !exists(filepath.Join(dataDir, "raft.db"))
	if bootstrap {
		for _, u := range strings.Split(get("FSA_JOIN"), ",") {
			if u = strings.TrimSpace(u); u != "" && ready(u) {
				bootstrap = false // a cluster exists: join it
				break
			}
		}
	}
	if !bootstrap && get("FSA_JOIN") == "" {
		return nil, errors.New("FSA_JOIN is required (API URLs of the other pods)")
	}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "FSA_BOOTSTRAP", k == "FSA_JOIN" && bootstrap:
			continue
		}
		out = append(out, kv)
	}
	if bootstrap {
		out = append(out, "FSA_BOOTSTRAP=true")
	}
	if get("FSA_NODE_ID") == "" {
		out = append(out, "FSA_NODE_ID="+pod)
	}
	return out, nil
}
