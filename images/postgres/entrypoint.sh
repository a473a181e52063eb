#!/bin/bash
# Bootstrap of a pg-operator PostgreSQL instance (PID 1 of the database container).
# An empty data directory is initialised by PGO_BOOTSTRAP:
#   primary  initdb, the initial database and users; the instance then runs as the primary;
#   replica  pg_basebackup from PGO_PRIMARY_HOST.
# An existing data directory runs as the primary only when PGO_ROLE (the pod's role label, set by the
# operator) says primary; otherwise it is a standby of PGO_PRIMARY_HOST with recovery_target_timeline=latest.
# That default is the safe one: a former primary that comes back never takes writes on its own.
# Passwords come from the environment (Secrets); they are never printed.
set -euo pipefail

PGDATA=${PGDATA:-/pgdata/data}
bootstrap=${PGO_BOOTSTRAP:-primary}
role=replica
[ "${PGO_ROLE:-}" = primary ] && role=primary
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

init_replica() {
  local host=${PGO_PRIMARY_HOST:?PGO_PRIMARY_HOST is required for a replica}
  log "cloning $host:$port into $PGDATA"
  until pg_isready -q -h "$host" -p "$port"; do sleep 1; done
  PGPASSWORD=$replication_password pg_basebackup -h "$host" -p "$port" -U replicator -D "$PGDATA" \
    --wal-method=stream --checkpoint=fast --no-password
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  if [ "$bootstrap" = replica ]; then init_replica; role=replica; else init_primary; role=primary; fi
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
password_encryption = '${PGO_PASSWORD_TYPE:-scram-sha-256}'
CONF
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
if [ "$role" = primary ]; then
  rm -f "$PGDATA/standby.signal"
else
  : "${PGO_PRIMARY_HOST:?PGO_PRIMARY_HOST is required: an existing data directory without PGO_ROLE=primary runs as a standby}"
  touch "$PGDATA/standby.signal"
  printf "primary_conninfo = 'host=%s port=%s user=replicator password=%s application_name=%s'\n" \
    "$PGO_PRIMARY_HOST" "$port" "$replication_password" "${HOSTNAME:-replica}" > "$PGDATA/pgo-standby.conf"
fi
echo "include_if_exists 'pgo-standby.conf'" >> "$PGDATA/pgo.conf"

log "starting PostgreSQL as $role"
exec postgres -D "$PGDATA"
