#!/usr/bin/env bash
# Build the local Kubernetes control plane used by the tests and `fsa-devcluster` purely from Go
# modules: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake kubelet),
# plus kwok's Stage config, into $CACHE/k8s/<hash>/{bin,kwok}.
#
#   build.sh          build if stale (the default; what `make k8s-bins` runs)
#   build.sh regen    rewrite the committed wrapper modules (go.mod/go.sum/mains) from pins.env
#   build.sh dir      print the output directory for the current inputs
#
# <hash> covers pins.env, this script, the wrapper modules, stages/ and the Go version; a stamp
# makes an up-to-date build a no-op. $CACHE/k8s/current is a symlink to the last good <hash>
# directory; the Go harness (internal/devenv/k8stest) finds the binaries through it.
# Env: CACHE (default <repo>/.cache), GO (default go).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=${CACHE:-$ROOT/.cache}
GO=${GO:-go}
export GOFLAGS=-buildvcs=false GOWORK=off
MODBASE=github.com/fullstackagent/fsa/internal/devenv/localcluster

# pin NAME prints NAME's value from pins.env (KEY=value lines; '#' starts a comment).
pin() {
  local v
  v=$(sed -n "s/^$1=\([^[:space:]#]*\).*/\1/p" "$HERE/pins.env")
  [ -n "$v" ] || { echo "k8s-bins: $1 missing from pins.env" >&2; exit 1; }
  echo "$v"
}
K8S_VERSION=$(pin K8S_VERSION)
ETCD_VERSION=$(pin ETCD_VERSION)
KWOK_VERSION=$(pin KWOK_VERSION)
STAGING=v0.${K8S_VERSION#1.}
KUBE_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)
BINARIES=(etcd "${KUBE_COMPONENTS[@]}" kwok)
# kwok ships no built-in stages: these files from its kustomize/stage folder make the "fast" set.
KWOK_STAGES=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml
  volume/fast/pv-bind.yaml volume/fast/pv-delete.yaml volume/fast/pvc-delete.yaml)
# Not volume/fast/pvc-provision.yaml: kwok plays Stages of claims one at a time, which capped how
# fast volume-backed pods start; internal/devenv/k8stest runs internal/devenv/pvstandin, which creates the same volumes
# with parallel workers, instead.

log() { echo "k8s-bins: $*" >&2; }
die() { log "$*"; exit 1; }

# inputs lists, relative to HERE, every file whose content decides the build output.
inputs() {
  (cd "$HERE" && printf '%s\n' pins.env build.sh etcd/* kube/go.mod kube/go.sum kube/cmd/*/main.go kwok/* stages/*.yaml)
}

pins_hash() {
  local f
  {
    "$GO" env GOVERSION
    while read -r f; do echo "== $f"; cat "$HERE/$f"; done < <(inputs)
  } | sha256sum | cut -c1-16
}

# ---------------------------------------------------------------- regen (needs the module proxy)
regen_module() { # regen_module <dir>: start a fresh go.mod
  cd "$HERE/$1"
  rm -f go.mod go.sum
  "$GO" mod init "$MODBASE/$1" >/dev/null 2>&1
  "$GO" mod edit -go=1.26.0
}

regen_etcd() {
  regen_module etcd
  cat > main.go <<'GO'
// Command etcd is etcd's server, built from the pinned go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  "$GO" get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  "$GO" mod tidy
}

regen_kube() {
  regen_module kube
  # k8s.io/kubernetes replaces every k8s.io/* staging module with ./staging/...; a consumer module
  # must replace them with the published v0.x tags instead.
  local gomod m c
  gomod=$("$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  while read -r m; do
    "$GO" mod edit -replace="$m=$m@$STAGING"
  done < <(grep -oE 'k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u)
  rm -rf cmd
  for c in kube-apiserver:APIServer kube-controller-manager:ControllerManager kube-scheduler:Scheduler; do
    mkdir -p "cmd/${c%%:*}"
    cat > "cmd/${c%%:*}/main.go" <<GO
// Command ${c%%:*} is Kubernetes' ${c%%:*}, built from the pinned k8s.io/kubernetes module.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/${c%%:*}/app"
)

func main() { os.Exit(cli.Run(app.New${c#*:}Command())) }
GO
  done
  "$GO" get "k8s.io/kubernetes@v$K8S_VERSION"
  "$GO" mod tidy
}

regen_kwok() {
  regen_module kwok
  # kwok has no replace directives, so its command is used as a Go tool of this module, unchanged.
  "$GO" get -tool "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  "$GO" mod tidy
}

# ---------------------------------------------------------------- build
check_pins() {
  if ! { grep -qE "^(require |	)k8s.io/kubernetes v$K8S_VERSION( |$)" "$HERE/kube/go.mod" &&
    grep -q "^replace k8s.io/client-go => k8s.io/client-go $STAGING\$" "$HERE/kube/go.mod" &&
    grep -qE "^(require |	)go.etcd.io/etcd/server/v3 v$ETCD_VERSION( |$)" "$HERE/etcd/go.mod" &&
    grep -qE "^(require |	)sigs.k8s.io/kwok v$KWOK_VERSION( |$)" "$HERE/kwok/go.mod"; }; then
    die "the wrapper modules do not match pins.env: run '$HERE/build.sh regen' and commit the result"
  fi
}

# shellcheck source=internal/devenv/localcluster/progress.sh
. "$HERE/progress.sh"

# expected <name>: the seconds a cold build of <name> took when last measured (MEASUREMENTS.md's
# "Expected cold-build seconds" line), 0 if unknown. It only feeds the progress line.
expected() {
  sed -n 's/^Expected cold-build seconds[^:]*: //p' "$HERE/MEASUREMENTS.md" | tr ' ' '\n' |
    sed -n "s/^$1=\([0-9]*\)$/\1/p" | head -n 1 | grep . || echo 0
}

# timed <n> <name> <cmd...>: run step n of the build with a live progress line, its output in
# build.log; append "<name> <seconds>" to build-times.txt.
timed() {
  local i=$1 name=$2 start end
  shift 2
  start=$(date +%s.%N)
  progress -n "$i/${#BINARIES[@]}" -e "$(expected "$name")" -t "$BUILD_START" "$BUILD_EXPECTED" \
    "$name" "$OUT/build.log" -- "$@"
  end=$(date +%s.%N)
  awk -v n="$name" -v a="$start" -v b="$end" 'BEGIN { printf "%s %.1fs\n", n, b - a }' >> "$OUT/build-times.txt"
}

build_etcd() { (cd "$HERE/etcd" && "$GO" build -ldflags "-s -w" -o "$OUT/bin/etcd" .); }

build_kube() { # build_kube <component>
  local ldf="-s -w" p minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$HERE/kube" && "$GO" build -ldflags "$ldf" -o "$OUT/bin/$1" "./cmd/$1")
}

# build_kwok builds kwok from a copy of its module source with kwok/*.patch applied (fixes to its
# exec; see the patch headers), through a temporary go.mod that replaces the module by that copy.
build_kwok() {
  local src tmp p
  src=$(cd "$HERE/kwok" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  tmp=$OUT/kwok-src
  rm -rf "$tmp" "$OUT/kwok-build"
  cp -r "$src" "$tmp"
  chmod -R u+w "$tmp"
  for p in "$HERE"/kwok/*.patch; do
    [ -e "$p" ] || continue
    (cd "$tmp" && patch -p1 --quiet < "$p") || die "cannot apply $p to kwok $KWOK_VERSION"
  done
  mkdir -p "$OUT/kwok-build"
  cp "$HERE/kwok/go.mod" "$OUT/kwok-build/go.mod"
  cp "$HERE/kwok/go.sum" "$OUT/kwok-build/go.sum"
  (cd "$HERE/kwok" && "$GO" mod edit -modfile="$OUT/kwok-build/go.mod" -replace="sigs.k8s.io/kwok=$tmp" &&
    "$GO" build -modfile="$OUT/kwok-build/go.mod" \
      -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" \
      -o "$OUT/bin/kwok" sigs.k8s.io/kwok/cmd/kwok)
  rm -rf "$tmp" "$OUT/kwok-build"
}

# kwok_config assembles kwok's Stage config: the "fast" stages from the kwok module source, with the
# pod-ready stage narrowed to pods without the fsa.test/simulate annotation, plus our stages/*.yaml.
kwok_config() {
  local src f
  src=$(cd "$HERE/kwok" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  mkdir -p "$OUT/kwok"
  {
    for f in "${KWOK_STAGES[@]}"; do
      echo "---"
      if [ "$f" = pod/fast/pod-ready.yaml ]; then
        awk '{ print }
             /^    matchExpressions:$/ && !done {
               print "    - key: '\''.metadata.annotations[\"fsa.test/simulate\"]'\''"
               print "      operator: '\''DoesNotExist'\''"
               done = 1
             }
             END { if (!done) exit 1 }' "$src/$f" || die "cannot narrow $f: its selector changed"
      else
        cat "$src/$f"
      fi
    done
    for f in "$HERE"/stages/*.yaml; do echo "---"; cat "$f"; done
  } > "$OUT/kwok/stages.yaml"
  cp "$src/volume/fast/storage-class.yaml" "$OUT/kwok/storage-class.yaml"
}

up_to_date() {
  local b
  [ -f "$OUT/.stamp" ] || return 1
  for b in "${BINARIES[@]}"; do [ -x "$OUT/bin/$b" ] || return 1; done
  [ -f "$OUT/kwok/stages.yaml" ] && [ -f "$OUT/kwok/storage-class.yaml" ]
}

point_current() { # make $CACHE/k8s/current point at $OUT (atomically)
  [ "$(readlink "$CACHE/k8s/current" 2>/dev/null)" = "$HASH" ] && return
  ln -sfn "$HASH" "$CACHE/k8s/current.$$"
  mv -T "$CACHE/k8s/current.$$" "$CACHE/k8s/current"
}

build() {
  if up_to_date; then point_current; log "up to date: $OUT/bin"; return; fi
  check_pins
  exec 9>"$CACHE/k8s/.build.lock"
  flock 9 # another build of the same tree may be running
  if up_to_date; then point_current; log "up to date: $OUT/bin"; return; fi
  mkdir -p "$OUT/bin"
  : > "$OUT/build-times.txt"
  local total c i=1
  total=$(date +%s.%N)
  BUILD_START=$(date +%s)
  BUILD_EXPECTED=0
  for c in "${BINARIES[@]}"; do BUILD_EXPECTED=$((BUILD_EXPECTED + $(expected "$c"))); done
  log "building the local control plane (${#BINARIES[@]} components from Go modules; about $(((BUILD_EXPECTED + 59) / 60)) minutes the first time, seconds later)"
  log "full log: $OUT/build.log"
  timed $((i++)) etcd build_etcd
  for c in "${KUBE_COMPONENTS[@]}"; do timed $((i++)) "$c" build_kube "$c"; done
  timed $((i++)) kwok build_kwok
  kwok_config >> "$OUT/build.log" 2>&1 || die "kwok stage config failed; see $OUT/build.log"
  awk -v a="$total" -v b="$(date +%s.%N)" 'BEGIN { printf "total %.1fs\n", b - a }' >> "$OUT/build-times.txt"
  log "built in $(_progress_dur $(($(date +%s) - BUILD_START))): per component in $OUT/build-times.txt"
  # sed, not head: head exiting first would kill a chatty --version with SIGPIPE (fatal under pipefail).
  for c in "${BINARIES[@]}"; do "$OUT/bin/$c" --version 2>&1 | sed -n 1p; done > "$OUT/versions.txt"
  echo "$HASH" > "$OUT/.stamp"
  point_current
  log "built: $OUT/bin"
}

mkdir -p "$CACHE/k8s"
case ${1:-build} in
build)
  HASH=$(pins_hash)
  OUT=$CACHE/k8s/$HASH
  build
  ;;
dir)
  echo "$CACHE/k8s/$(pins_hash)"
  ;;
regen)
  (regen_etcd)
  (regen_kube)
  (regen_kwok)
  log "regenerated the wrapper modules; review and commit internal/devenv/localcluster/{etcd,kube,kwok}"
  ;;
*)
  die "usage: $0 [build|regen|dir]"
  ;;
esac
