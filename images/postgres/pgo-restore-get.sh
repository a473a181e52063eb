#!/bin/bash
# A restore's restore_command: `pgo-restore-get pgbackrest ... --no-archive-async archive-get %f "%p"` runs its
# arguments. PostgreSQL takes any exit status from 1 to 125 for "the archive has no such file", and a restore
# that hears it ends recovery there and promotes: a repository host that did not answer once (busy, its node
# slow) would cut the restore short, and every write after that point would be missing from the restored
# data. pgbackrest archive-get (synchronous: the asynchronous one also answers 1 when it runs out of time)
# exits 1 only when the file is not in the archive. Any other failure is tried again (PGO_RESTORE_GET_ATTEMPTS
# times, 5: about 20 s), then ends recovery with an error (exit 255, which PostgreSQL treats as fatal): the
# container ends with pgBackRest's error in its log (an in-place restore reads it from there and fails,
# leaving the cluster on its data).
set -uo pipefail
attempts=${PGO_RESTORE_GET_ATTEMPTS:-5}
for ((attempt = 1; attempt <= attempts; attempt++)); do
  "$@"
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then exit "$rc"; fi
  echo "pgo-restore-get: $* exited with $rc (attempt $attempt of $attempts)" >&2
  [ "$attempt" -eq "$attempts" ] || sleep $((attempt * 2))
done
echo "pgo-restore-get: the repository did not answer for ${*: -2:1}: stopping recovery rather than ending it" >&2
exit 255
