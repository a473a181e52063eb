#!/bin/bash
# Runs its arguments only in an instance that is a member of its cluster (archive_command:
# `pgo-member-only pgbackrest --stanza=db archive-push "%p"`). A restored instance that promoted itself
# (labelled restore: a drill, or a restore not yet switched to) must not push its new timeline into the
# cluster's repository, where a later restore following the latest timeline would take it; PostgreSQL keeps
# the WAL and retries until the label says primary.
set -euo pipefail
labels_file=${PGO_LABELS_FILE:-/etc/pgo/podinfo/labels}
role=$(sed -n 's/^pg-operator\.dev\/role="\(.*\)"$/\1/p' "$labels_file" 2>/dev/null || true)
if [ "$role" = restore ]; then
  echo "pgo-member-only: not running $1 while this instance is a restore (role label: restore)" >&2
  exit 1
fi
exec "$@"
