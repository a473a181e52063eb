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
  # stanza exists, segments wait in pg_wal. Replicas and restores fetch with archive-get: a member's fetch is
  # bounded, and stops once a failover cut it off (pgo-archive-get); restores write their own, unbounded
  # restore_command: for them a failed fetch means the end of the archive.
  mkdir -p /pgdata/pgbackrest/log /pgdata/pgbackrest/spool
  cat >> "$PGDATA/pgo.conf" <<CONF
archive_mode = on
archive_command = 'pgo-member-only pgbackrest --stanza=db archive-push "%p"'
archive_timeout = ${PGO_ARCHIVE_TIMEOUT:-60}
restore_command = 'pgo-archive-get %f "%p"'
CONF
else
  echo "archive_mode = off" >> "$PGDATA/pgo.conf"
fi
if [ -n "${PGO_PARAMETERS_FILE:-}" ] && [ -f "$PGO_PARAMETERS_FILE" ]; then
  echo "include '$PGO_PARAMETERS_FILE'" >> "$PGDATA/pgo.conf"
fi
grep -q "^include_if_exists 'pgo.conf'" "$PGDATA/postgresql.conf" || echo "include_if_exists 'pgo.conf'" >> "$PGDATA/postgresql.conf"

# md5 in pg_hba.conf answers with SCRAM for a role whose password is stored as SCRAM (the default), and
# lets a role whose password was stored as md5 (passwordType md5, pgo create user --password-type md5) log in.
cat > "$PGDATA/pg_hba.conf" <<HBA
local all all trust
host replication replicator 0.0.0.0/0 md5
host all all 0.0.0.0/0 md5
HBA

rm -f "$PGDATA/pgo-standby.conf"
# The recovery target of a restore lives in postgresql.auto.conf (pgBackRest writes it there). It must not
# outlive the restore: a standby started with it (or cloned with it) would stop there and promote itself.
# A primary_conninfo there is the operator's (a failover's direct address): a new start follows the Service.
if [ "$role" != restore ] && [ -f "$PGDATA/postgresql.auto.conf" ]; then
  sed -i -E '/^(recovery_target|restore_command|primary_conninfo)/d' "$PGDATA/postgresql.auto.conf"
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
  # The password is in a passfile, so the operator may read the connection string (the upstream host) and,
  # during a failover, point the standby at the new primary's address (ALTER SYSTEM) without a secret in SQL.
  pw=${replication_password//\\/\\\\}
  (umask 077 && printf '*:*:*:replicator:%s\n' "${pw//:/\\:}" > /pgdata/pgo-pgpass)
  printf "primary_conninfo = 'host=%s port=%s user=replicator passfile=/pgdata/pgo-pgpass application_name=%s connect_timeout=3 keepalives_idle=2 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=5000'\n" \
    "$PGO_PRIMARY_HOST" "$port" "${PGO_POD_NAME:-${HOSTNAME:-replica}}" > "$PGDATA/pgo-standby.conf"
fi
echo "include_if_exists 'pgo-standby.conf'" >> "$PGDATA/pgo.conf"

started_as=$role
[ "$role" = primary ] || [ "$role" = restore ] || role="standby ($role)"

# Supervision: this script stays the parent of the postmaster (tini, PID 1, forwards signals to it).
# A postmaster that dies by itself (killed, out of memory, a PANIC) is started again in place at once,
# with the same role, instead of waiting for the kubelet and its CrashLoopBackOff; at most 5 times in
# 60 s, then the container ends. Any stop asked for (pgo-stop from the operator, the kubelet's stop
# signal) is a fast shutdown that ends the container: the kubelet starts it again and the role comes
# afresh from the operator's label (a fenced or demoted primary restarts as a standby, rewound).
# The dead postmaster's processes exit once they notice its death, but one waiting on a command (the archiver
# on an archive-push) may not for a long while, and until they are all gone a new postmaster refuses their
# shared memory. Without their postmaster they only hold it: after a second they are killed.
reap_orphans() {
  local i f c p pids
  for i in $(seq 1 40); do
    pids=()
    for f in /proc/[0-9]*/comm; do
      read -r c 2>/dev/null < "$f" || continue
      [ "$c" = postgres ] || continue
      p=${f#/proc/}
      pids+=("${p%/comm}")
    done
    [ "${#pids[@]}" -gt 0 ] || return 0
    [ "$i" -lt 20 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.05
  done
}

# Self-fencing. A primary cut off from the control plane (the operator and the API server cannot reach its
# node, its clients still can) is failed over, and its clients would go on committing on it: two writers.
# This watchdog stops it: once no query of the operator has reached it for PGO_SELF_FENCE_SECONDS and the
# API server does not answer either, PostgreSQL is stopped (fast shutdown) and kept stopped until the API
# server answers again; the container then ends and starts again with the role the operator gave it since.
# Either one alone (the operator restarting, the API server restarting) stops nothing. The operator, failing
# over a primary that its replicas still hear but it cannot reach, waits for this before it cuts them off
# (src/actors/failover.ts), so they receive everything the old primary acknowledged.
self_fenced=/tmp/pgo-self-fenced
api_answers() {
  [ -n "${KUBERNETES_SERVICE_HOST:-}" ] || return 0
  timeout 1 bash -c ": </dev/tcp/$KUBERNETES_SERVICE_HOST/${KUBERNETES_SERVICE_PORT:-443}" 2>/dev/null
}
self_fence_watch() {
  set +e
  trap '' PIPE
  local limit=$(( ${PGO_SELF_FENCE_SECONDS:-0} * 10 )) age pid now seen=${EPOCHREALTIME/./}
  [ "$limit" -gt 0 ] || return 0
  # Tenths of a second since the latest query of the operator's sessions began; -2: none connected; -1: a standby.
  local q="select case when pg_is_in_recovery() then -1 else coalesce((select (10 * extract(epoch from now() - max(query_start)))::int from pg_stat_activity where application_name = 'pg-operator' having count(*) > 0), -2) end;"
  # One psql session for the watch (no process and no backend started every half second).
  while sleep 0.5; do
    if [ -z "${PSQL_PID:-}" ] || ! kill -0 "$PSQL_PID" 2>/dev/null; then
      coproc PSQL { exec psql -XAtq -h /var/run/postgresql -U postgres -d postgres 2>/dev/null; }
    fi
    echo "$q" >&"${PSQL[1]}" 2>/dev/null || continue
    if ! read -r -t 2 age <&"${PSQL[0]}"; then kill "$PSQL_PID" 2>/dev/null; continue; fi
    now=${EPOCHREALTIME/./}
    # The last time the operator was heard of counts on while none of its sessions is connected (between
    # two short ones, or once its long-lived one was dropped); a standby starts the count afresh.
    case $age in
      -1) seen=$now; continue ;;
      -2) age=$(( (now - seen) / 100000 )) ;;
      ''|*[!0-9]*) continue ;;
      *) seen=$(( now - age * 100000 )) ;;
    esac
    [ "$age" -gt "$limit" ] || continue
    api_answers && continue
    pid=$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null) || continue
    log "self-fencing: no query from the operator for $((age / 10)) s and the API server does not answer: stopping PostgreSQL until it does"
    touch "$self_fenced"
    kill -INT "$pid"
    return 0
  done
}
rm -f "$self_fenced"
self_fence_watch &

stopping=0
child=0
trap 'stopping=1; [ "$child" -eq 0 ] || kill -INT "$child" 2>/dev/null || true' INT TERM
restarts=()
while :; do
  [ "$stopping" = 0 ] || exit 0
  log "starting PostgreSQL as $role"
  postgres -D "$PGDATA" &
  child=$!
  code=0
  wait "$child" || code=$?
  # A trapped signal ends `wait` early: wait for the postmaster itself.
  while kill -0 "$child" 2>/dev/null; do code=0; wait "$child" || code=$?; done
  child=0
  [ "$stopping" = 0 ] || exit "$code"
  if [ -f "$self_fenced" ]; then
    until [ "$stopping" = 1 ] || api_answers; do sleep 1; done
    log "self-fenced: the API server answers again; ending the container (it starts again with the operator's role)"
    exit 1
  fi
  [ "$code" -ne 0 ] || exit 0
  # A restore whose recovery stopped (a target not reached, a missing WAL file) would stop again: the
  # container ends, and the operator reads the reason from its log.
  [ "$started_as" != restore ] || { log "PostgreSQL exited with $code while restoring: ending the container"; exit "$code"; }
  now=$(date +%s)
  recent=()
  for t in "${restarts[@]}"; do [ $((now - t)) -ge 60 ] || recent+=("$t"); done
  restarts=("${recent[@]}" "$now")
  [ "${#restarts[@]}" -le 5 ] || { log "PostgreSQL exited with $code for the 6th time in 60 s: ending the container"; exit "$code"; }
  label=$(role_from_file)
  [ -z "$label" ] || [ "$label" = "$started_as" ] || { log "PostgreSQL exited with $code and the role label is now $label: ending the container"; exit "$code"; }
  log "PostgreSQL exited with $code: starting it again in place"
  reap_orphans
done
