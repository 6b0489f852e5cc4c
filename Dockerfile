# Paybill's server image: streamable HTTP on port 8000, non-root, the store from
# PAYBILL_DATABASE_URL (compose.yaml runs it with PostgreSQL). docs/container.md says more.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 paybill \
    && useradd --system --uid 10001 --gid paybill --home-dir /var/lib/paybill \
       --create-home --shell /usr/sbin/nologin paybill

WORKDIR /opt/paybill
COPY pyproject.toml README.md ./
COPY server ./server
COPY tools ./tools
COPY evals ./evals
COPY policies ./policies
COPY migrations ./migrations
COPY terraform_modules ./terraform_modules
# The Temporal engine's SDK is in, so PAYBILL_WORKFLOW_ENGINE=temporal works as shipped
# (docs/temporal.md); the embedded engine never imports it.
RUN pip install ".[temporal]" && rm -rf /opt/paybill/build
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/paybill-entrypoint

# The data directory holds the audit key, the console key and tenant records: a volume,
# owned by the unprivileged user the server runs as.
ENV PAYBILL_DATA_DIR=/var/lib/paybill \
    PAYBILL_PORT=8000
VOLUME ["/var/lib/paybill"]
USER paybill:paybill
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PAYBILL_PORT', '8000') + '/readyz', timeout=4)"]
ENTRYPOINT ["paybill-entrypoint"]
CMD ["serve"]
