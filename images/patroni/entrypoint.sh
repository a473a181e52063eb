#!/bin/bash
# Writes /tmp/patroni.yml from the environment and execs Patroni (PID 1 of the container).
#   PATRONI_SCOPE       cluster name (the cluster-name label and the prefix of Patroni's ConfigMaps)
#   POD_NAME, POD_IP, POD_NAMESPACE   from the downward API
#   PATRONI_USE_ENDPOINTS  true: the leader lock lives in the Endpoints of Service PATRONI_SCOPE;
#                          false (default): in ConfigMap PATRONI_SCOPE-leader
#   PATRONI_TTL, PATRONI_LOOP_WAIT, PATRONI_RETRY_TIMEOUT, PATRONI_MAXIMUM_LAG_ON_FAILOVER,
#   PATRONI_SYNCHRONOUS_MODE   bootstrap DCS settings (Patroni's defaults when unset)
#   PGPASSWORD_SUPERUSER, PGPASSWORD_REPLICATION   passwords (from a Secret; never printed)
set -euo pipefail
scope=${PATRONI_SCOPE:?PATRONI_SCOPE is required}
name=${POD_NAME:-$(hostname)}
ip=${POD_IP:?POD_IP is required (downward API status.podIP)}
namespace=${POD_NAMESPACE:?POD_NAMESPACE is required (downward API metadata.namespace)}
q() { printf "'%s'" "${1//\'/\'\'}"; }   # a YAML single-quoted string

umask 077
cat > /tmp/patroni.yml <<YAML
scope: $(q "$scope")
name: $(q "$name")
restapi:
  listen: 0.0.0.0:8008
  connect_address: $ip:8008
kubernetes:
  namespace: $(q "$namespace")
  labels: { application: patroni, cluster-name: $(q "$scope") }
  scope_label: cluster-name
  role_label: role
  use_endpoints: ${PATRONI_USE_ENDPOINTS:-false}
  pod_ip: $ip
  ports: [{ name: postgresql, port: 5432 }]
bootstrap:
  dcs:
    ttl: ${PATRONI_TTL:-30}
    loop_wait: ${PATRONI_LOOP_WAIT:-10}
    retry_timeout: ${PATRONI_RETRY_TIMEOUT:-10}
    maximum_lag_on_failover: ${PATRONI_MAXIMUM_LAG_ON_FAILOVER:-1048576}
    synchronous_mode: ${PATRONI_SYNCHRONOUS_MODE:-false}
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
postgresql:
  listen: 0.0.0.0:5432
  connect_address: $ip:5432
  data_dir: /pgdata/data
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /tmp/pgpass
  authentication:
    superuser: { username: postgres, password: $(q "${PGPASSWORD_SUPERUSER:?PGPASSWORD_SUPERUSER is required}") }
    replication: { username: replicator, password: $(q "${PGPASSWORD_REPLICATION:?PGPASSWORD_REPLICATION is required}") }
  pg_hba:
    - local all all trust
    - host replication replicator 0.0.0.0/0 scram-sha-256
    - host all all 0.0.0.0/0 scram-sha-256
tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false }
YAML
exec patroni /tmp/patroni.yml
