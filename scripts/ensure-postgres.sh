#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster if nothing answers on 127.0.0.1:5432, then wait for it.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! ready; then
  echo "PostgreSQL is not answering; starting the local cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "PostgreSQL on 127.0.0.1:5432 is still unreachable" >&2; exit 1; }
