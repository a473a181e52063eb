#!/bin/bash
# Bootstrap of a pg-operator PostgreSQL instance (PID 1 of the database container).
# The pod's role label (set by the operator; PGO_ROLE, or the downward API file when the label came late)
# decides how the instance runs:
#   primary   an empty data directory is initialised (initdb, the initial database and users) when
#             PGO_BOOTSTRAP=primary; an existing one runs as the primary.
#   replica   an empty data directory is cloned (pg_basebackup) from PGO_PRIMARY_HOST; an existing one runs
#   fenced    as a standby of PGO_PRIMARY_HOST with recovery_target_timeline=latest. A data directory that
#             was a primary is first rewound (pg_rewind) to the new primary's history, so a former primary
#             can never take writes again on its own.
#   restore   (PGO_BOOTSTRAP=restore) the data directory is filled by `pgbackrest restore $PGO_RESTORE_ARGS`
#             (again with --delta after an interrupted try) and PostgreSQL recovers to the target and
#             promotes; the pod is in no Service until the operator has checked it and made it the primary.
# A lock on the volume keeps two containers (an old pod still stopping, a new one) off one data directory.
# Passwords come from the environment (Secrets); they are never printed.
set -euo pipefail

PGDATA=${PGDATA:-/pgdata/data}
bootstrap=${PGO_BOOTSTRAP:-primary}
role=${PGO_ROLE:-}
labels_file=${PGO_LABELS_FILE:-/etc/pgo/podinfo/labels}
port=${PGO_PORT:-5432}
superuser_password=${PGO_SUPERUSER_PASSWORD:?PGO_SUPERUSER_PASSWORD is required (from the cluster superuser Secret)}
replication_password=${PGO_REPLICATION_PASSWORD:-}

log() { echo "pgo-entrypoint: $*" >&2; }

sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }

init_primary() {
  log "initialising a new primary in $PGDATA"
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    --pwfile=<(printf '%s\n' "$superuser_password") >/dev/null
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
  {
    if [ -n "$replication_password" ]; then
      echo "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD $(sql_literal "$replication_password");"
    fi
    if [ -n "${PGO_USER:-}" ]; then
      echo "CREATE ROLE $(sql_ident "$PGO_USER") WITH LOGIN PASSWORD $(sql_literal "${PGO_USER_PASSWORD:-}");"
    fi
    if [ -n "${PGO_DATABASE:-}" ]; then
      echo "CREATE DATABASE $(sql_ident "$PGO_DATABASE")${PGO_USER:+ OWNER $(sql_ident "$PGO_USER")};"
    fi
  } | psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d postgres
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
}

# The role label from the downward API file (it follows label changes, unlike the environment).
role_from_file() {
  sed -n 's/^pg-operator\.dev\/role="\(.*\)"$/\1/p' "$labels_file" 2>/dev/null || true
}

# Whether the data directory was last run as a primary (crashed or shut down), from its control file.
was_primary() {
  local state
  state=$(LC_ALL=C pg_controldata -D "$PGDATA" | sed -n 's/^Database cluster state: *//p')
  [ "$state" = "in production" ] || [ "$state" = "shut down" ]
}

# Rewinds this data directory onto the current primary's history; returns non-zero when pg_rewind failed.
try_rewind() {
  local host=$PGO_PRIMARY_HOST
  # A just-promoted primary names its new timeline in its control file only after a checkpoint.
  PGPASSWORD=$superuser_password psql -X -q -h "$host" -p "$port" -U postgres -d postgres -c checkpoint || true
  PGPASSWORD=$superuser_password pg_rewind -D "$PGDATA" \
    --source-server="host=$host port=$port user=postgres dbname=postgres connect_timeout=5" >&2
}

# Rewinds a former primary onto the current primary's timeline; re-clones when that is impossible.
rewind() {
  local host=${PGO_PRIMARY_HOST:?PGO_PRIMARY_HOST is required for a standby}
  log "this data directory was a primary: waiting for the primary $host to rewind onto its history"
  until pg_isready -q -h "$host" -p "$port"; do sleep 1; done
  try_rewind && return
  log "pg_rewind failed: cloning the primary again (writes only this instance had are discarded)"
  find "$PGDATA" -mindepth 1 -delete
  init_replica
}

init_replica() {
  local host=${PGO_PRIMARY_HOST:?PGO_PRIMARY_HOST is required for a replica}
  log "cloning $host:$port into $PGDATA"
  until pg_isready -q -h "$host" -p "$port"; do sleep 1; done
  PGPASSWORD=$replication_password pg_basebackup -h "$host" -p "$port" -U replicator -D "$PGDATA" \
    --wal-method=stream --checkpoint=fast --no-password
}

until [ -n "$role" ]; do
  role=$(role_from_file)
  [ -n "$role" ] || { log "waiting for the operator to label this pod with its role"; sleep 1; }
done
[ "$role" = primary ] || [ "$role" = replica ] || [ "$role" = fenced ] || [ "$role" = restore ] || { log "unknown role label: $role"; exit 1; }

exec 9>>/pgdata/pgo.lock
flock -w 120 9 || { log "another container still holds /pgdata/pgo.lock"; exit 1; }

restored_marker=/pgdata/pgo-restored
if [ "$role" = restore ]; then
  [ "$bootstrap" = restore ] || { log "labelled restore but PGO_BOOTSTRAP is $bootstrap: refusing to start"; exit 1; }
  if [ ! -f "$restored_marker" ]; then
    mkdir -p "$PGDATA" /pgdata/pgbackrest/log /pgdata/pgbackrest/spool && chmod 700 "$PGDATA"
    mapfile -t restore_args <<< "${PGO_RESTORE_ARGS:-}"
    delta=()
    [ -z "$(ls -A "$PGDATA")" ] || delta=(--delta)
    log "restoring into $PGDATA: pgbackrest restore ${restore_args[*]} ${delta[*]}"
    config=()
    # Restoring from another cluster's repository (spec.dataSource): its settings, for this restore only.
    [ -z "${PGO_RESTORE_CONFIG:-}" ] || config=(--config="$PGO_RESTORE_CONFIG")
    pgbackrest "${config[@]}" --stanza=db --pg1-path="$PGDATA" --log-level-console=detail "${delta[@]}" "${restore_args[@]}" restore
    touch "$restored_marker"
  fi
elif [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  if [ "$role" != primary ]; then
    init_replica
  elif [ "$bootstrap" = primary ]; then
    init_primary
  else
    log "labelled primary but has no data and is not the cluster's first instance: refusing to start"
    exit 1
  fi
elif [ "$role" != primary ] && was_primary; then
  rewind
elif [ "$role" != primary ] && pg_isready -q -t 3 -h "${PGO_PRIMARY_HOST:-}" -p "$port"; then
  # A standby may hold WAL past the new primary's fork point (an old primary's last records reached it but
  # not the target): rewinding is cheap when not needed ("no rewind required"), and it is tried only when
  # the primary answers, so a standby still starts while there is none (it may be the next candidate).
  try_rewind || log "pg_rewind did not run (the standby starts as it is)"
fi

# Settings owned by the operator; PGO_PARAMETERS_FILE (from the cluster ConfigMap) may add more.
cat > "$PGDATA/pgo.conf" <<CONF
listen_addresses = '*'
port = $port
unix_socket_directories = '/var/run/postgresql'
ssl = off
wal_level = replica
hot_standby = on
max_wal_senders = 10
max_replication_slots = 10
wal_log_hints = on
recovery_target_timeline = 'latest'
wal_keep_size = '512MB'
wal_receiver_timeout = '5s'
wal_sender_timeout = '5s'
wal_retrieve_retry_interval = '1s'
password_encryption = '${PGO_PASSWORD_TYPE:-scram-sha-256}'
CONF
if [ "${PGO_BACKREST:-off}" = on ]; then
  # WAL archiving through pgBackRest from the first start on. Async: a background process pushes segments in
  # batches, and the archiver hears "archived" for a segment only once it is in every repository; until the
  # stanza exists, segments wait in pg_wal. Replicas and restores fetch with archive-get.
  mkdir -p /pgdata/pgbackrest/log /pgdata/pgbackrest/spool
  cat >> "$PGDATA/pgo.conf" <<CONF
archive_mode = on
archive_command = 'pgo-member-only pgbackrest --stanza=db archive-push "%p"'
archive_timeout = ${PGO_ARCHIVE_TIMEOUT:-60}
restore_command = 'pgbackrest --stanza=db archive-get %f "%p"'
CONF
else
  echo "archive_mode = off" >> "$PGDATA/pgo.conf"
fi
if [ -n "${PGO_PARAMETERS_FILE:-}" ] && [ -f "$PGO_PARAMETERS_FILE" ]; then
  echo "include '$PGO_PARAMETERS_FILE'" >> "$PGDATA/pgo.conf"
fi
grep -q "^include_if_exists 'pgo.conf'" "$PGDATA/postgresql.conf" || echo "include_if_exists 'pgo.conf'" >> "$PGDATA/postgresql.conf"

cat > "$PGDATA/pg_hba.conf" <<HBA
local all all trust
host replication replicator 0.0.0.0/0 scram-sha-256
host all all 0.0.0.0/0 scram-sha-256
HBA

rm -f "$PGDATA/pgo-standby.conf"
# The recovery target of a restore lives in postgresql.auto.conf (pgBackRest writes it there). It must not
# outlive the restore: a standby started with it (or cloned with it) would stop there and promote itself.
if [ "$role" != restore ] && [ -f "$PGDATA/postgresql.auto.conf" ]; then
  sed -i -E '/^(recovery_target|restore_command)/d' "$PGDATA/postgresql.auto.conf"
fi
if [ "$role" = restore ]; then
  :
elif [ "$role" = primary ]; then
  rm -f "$PGDATA/standby.signal"
else
  : "${PGO_PRIMARY_HOST:?PGO_PRIMARY_HOST is required: an existing data directory without PGO_ROLE=primary runs as a standby}"
  touch "$PGDATA/standby.signal"
  # Timeouts, so that a frozen or cut-off old primary (which still accepts TCP) cannot hold the WAL receiver:
  # it gives up and reconnects through the primary Service, which by then selects the new primary.
  printf "primary_conninfo = 'host=%s port=%s user=replicator password=%s application_name=%s connect_timeout=3 keepalives_idle=2 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=5000'\n" \
    "$PGO_PRIMARY_HOST" "$port" "$replication_password" "${PGO_POD_NAME:-${HOSTNAME:-replica}}" > "$PGDATA/pgo-standby.conf"
fi
echo "include_if_exists 'pgo-standby.conf'" >> "$PGDATA/pgo.conf"

[ "$role" = primary ] || [ "$role" = restore ] || role="standby ($role)"
log "starting PostgreSQL as $role"
exec postgres -D "$PGDATA"
