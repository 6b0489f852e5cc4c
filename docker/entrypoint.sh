#!/bin/sh
# The container's entrypoint. `serve` (the default) waits for the store, migrates it
# (`paybill init`, safe to repeat) and serves streamable HTTP on 0.0.0.0:$PAYBILL_PORT;
# any other arguments run as a paybill command (`worker`, `principal add ...`, `audit verify`).
set -eu

if [ "${1:-serve}" != "serve" ]; then
    exec paybill "$@"
fi
[ "$#" -gt 0 ] && shift

attempts="${PAYBILL_INIT_ATTEMPTS:-30}"
n=1
# The store may still be starting (compose, a failover): retry init, then give up loudly.
until paybill init; do
    if [ "$n" -ge "$attempts" ]; then
        echo "paybill-entrypoint: the store is still not ready after $attempts attempts; giving up." >&2
        exit 1
    fi
    n=$((n + 1))
    sleep "${PAYBILL_INIT_RETRY_SECONDS:-2}"
done
exec paybill serve --transport "${PAYBILL_TRANSPORT:-streamable-http}" \
    --host 0.0.0.0 --port "${PAYBILL_PORT:-8000}" "$@"
