#!/bin/bash
# Runs a long pgBackRest command (a backup) detached from the exec that started it, so that an operator
# that restarts or loses its connection never kills it, and reports on it later.
#   pgo-job start ID CMD...  starts CMD once per ID (again only after it finished): output in ID.log, exit code in ID.rc
#   pgo-job status ID        prints "running", "done RC" or "absent", then "---" and the last 40 lines of output
set -euo pipefail
jobs=${PGO_JOBS_DIR:-/pgbackrest/jobs}
mkdir -p "$jobs"
cmd=${1:?usage: pgo-job start ID CMD... | status ID}; id=${2:?job id required}; shift 2
[[ "$id" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad job id: $id" >&2; exit 2; }
base=$jobs/$id
alive() { [ -f "$base.pid" ] && kill -0 "$(cat "$base.pid")" 2>/dev/null; }
case $cmd in
  start)
    if alive; then echo "running"; exit 0; fi
    [ $# -gt 0 ] || { echo "no command" >&2; exit 2; }
    rm -f "$base.rc"
    # The exit code is written to a temporary file first, so "done" is never read before it is complete.
    setsid bash -c '"$@" > "$0.log" 2>&1; echo $? > "$0.rc.tmp"; mv "$0.rc.tmp" "$0.rc"' "$base" "$@" < /dev/null > /dev/null 2>&1 &
    echo $! > "$base.pid"
    echo "started"
    ;;
  status)
    if [ -f "$base.rc" ]; then echo "done $(cat "$base.rc")"
    elif alive; then echo "running"
    else echo "absent"; fi
    echo "---"
    tail -n 40 "$base.log" 2>/dev/null || true
    ;;
  *) echo "unknown command: $cmd" >&2; exit 2 ;;
esac
