#!/bin/bash
# The pgBackRest repository host: the TLS server over the repository volume (repo1), which the instances
# reach to push and fetch WAL and the operator execs backups in.
set -euo pipefail
mkdir -p /pgbackrest/repo1 /pgbackrest/log /pgbackrest/jobs
chmod 750 /pgbackrest/repo1
exec pgbackrest server
