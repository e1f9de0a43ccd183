#!/usr/bin/env bash
# progress.sh: run one long build step with a single live progress line, its output kept in a log.
#
#   progress.sh [-n N/M] [-e EXPECTED_SECONDS] [-t ALL_START ALL_EXPECTED] LABEL LOG -- CMD...
#
# CMD's output (stdout and stderr) is appended to LOG, not shown. On a terminal one line is
# redrawn every second: "kube-apiserver 2/5: 3m10s of about 12m (all: 4m40s of about 22m)",
# where ALL_START is the unix time the whole build started. When stdout is not a terminal (CI, a
# pipe) a plain line is printed at the start, every minute and at the end. When CMD fails, its
# last lines in LOG are shown with the path, and the status is CMD's. Ctrl-C stops CMD.
#
# Sourced (by build.sh), it defines the function `progress` with the same arguments, which can
# run shell functions as CMD.

progress() {
  local n="" expected=0 all_start="" all_expected=0
  while [ $# -gt 0 ]; do
    case $1 in
    -n) n=" $2"; shift 2 ;;
    -e) expected=$2; shift 2 ;;
    -t) all_start=$2 all_expected=$3; shift 3 ;;
    *) break ;;
    esac
  done
  if [ $# -lt 4 ] || [ "$3" != "--" ]; then
    echo "usage: progress.sh [-n N/M] [-e SECONDS] [-t START TOTAL] LABEL LOG -- CMD..." >&2
    return 2
  fi
  local label=$1 log=$2
  shift 3

  mkdir -p "$(dirname "$log")"
  touch "$log"
  local from start pid rc el next
  from=$(($(stat -c %s "$log") + 1)) # this step's part of the log starts here
  echo "== $(date -u +%FT%TZ) $label$n: $*" >> "$log"
  start=$(date +%s)
  "$@" >> "$log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064 # expand pid now
  trap "kill $pid 2>/dev/null; wait $pid 2>/dev/null; [ -t 1 ] && echo; exit 130" INT TERM

  if [ -t 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      printf '\r\033[K  %s' "$(_progress_line $(($(date +%s) - start)))"
      sleep 1 # redraw interval of the live line
    done
  else
    if [ "$expected" -gt 0 ]; then
      echo "  $label$n: started ($(_progress_about "$expected"))"
    else
      echo "  $label$n: started"
    fi
    next=60
    while kill -0 "$pid" 2>/dev/null; do
      el=$(($(date +%s) - start))
      if [ "$el" -ge "$next" ]; then echo "  $(_progress_line "$el")"; next=$((next + 60)); fi
      sleep 1 # how often to look whether the step ended
    done
  fi
  wait "$pid"
  rc=$?
  trap - INT TERM
  el=$(($(date +%s) - start))
  if [ -t 1 ]; then printf '\r\033[K'; fi
  if [ "$rc" -ne 0 ]; then
    echo "  $label$n: FAILED after $(_progress_dur "$el") (exit $rc); its last lines in $log:" >&2
    tail -c "+$from" "$log" | tail -n 25 | sed 's/^/    /' >&2
    return "$rc"
  fi
  echo "  $label$n: done in $(_progress_dur "$el")"
}

_progress_dur() { # SECONDS -> 45s, 3m10s, 1h02m
  local s=$1
  if [ "$s" -lt 60 ]; then printf '%ds' "$s"
  elif [ "$s" -lt 3600 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60))
  else printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60)); fi
}

_progress_about() { # SECONDS -> "about 12m" (rounded up to a minute)
  printf 'about %dm' $((($1 + 59) / 60))
}

_progress_line() { # ELAPSED, with label, n, expected, all_start, all_expected of progress
  local s all
  s="$label$n: $(_progress_dur "$1")"
  if [ "$expected" -gt 0 ]; then s="$s of $(_progress_about "$expected")"; fi
  if [ -n "$all_start" ]; then
    all=$(($(date +%s) - all_start))
    s="$s (all: $(_progress_dur "$all")"
    if [ "$all_expected" -gt 0 ]; then s="$s of $(_progress_about "$all_expected")"; fi
    s="$s)"
  fi
  printf '%s' "$s"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  progress "$@"
fi
