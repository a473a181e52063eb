#!/bin/bash
# A member's restore_command: `pgo-archive-get %f "%p"` fetches a WAL file from the cluster's repository
# (pgbackrest archive-get), within PGO_ARCHIVE_GET_TIMEOUT seconds (10). A standby asks the archive before it
# streams, and an archive-get from a repository host that does not answer (its node cut off or stopped)
# would otherwise hold streaming, or a promotion, up for a minute per file; a fetch given up on is asked
# again later (the asynchronous archive-get goes on filling its spool meanwhile).
# Once a failover has cut this standby off (restore_command = '' in postgresql.auto.conf, written by the
# operator), nothing is fetched any more and a fetch in flight is given up within 0.2 s: PostgreSQL's startup
# process rereads its settings only between fetches, and a promotion finishing with this command (it looks
# for timeline history files) must not wait for a repository that does not answer.
set -uo pipefail
cut_off() { grep -qE "^restore_command = ''" "$PGDATA/postgresql.auto.conf" 2>/dev/null; }
cut_off && exit 1
timeout "${PGO_ARCHIVE_GET_TIMEOUT:-10}" pgbackrest --stanza=db archive-get "$1" "$2" &
fetch=$!
while kill -0 "$fetch" 2>/dev/null; do
  if cut_off; then
    kill "$fetch" 2>/dev/null
    wait "$fetch"
    exit 1
  fi
  sleep 0.2
done
wait "$fetch"
