"""A Temporal client from the settings: address, namespace, TLS and API key."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import TLSConfig

from paybill.server.core.secrets import configured_secret
from paybill.server.core.settings import Settings


def tls_config(settings: Settings, api_key: str) -> bool | TLSConfig:
    """TLS when asked for, when a client certificate is given (mTLS), or with an API key
    (a hosted cluster never takes one in the clear)."""
    files = (settings.temporal_tls_ca_file, settings.temporal_tls_cert_file)
    if not (settings.temporal_tls or api_key or any(files)):
        return False
    ca, cert, key = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
    )
    return TLSConfig(
        server_root_ca_cert=ca.read_bytes() if ca else None,
        client_cert=cert.read_bytes() if cert else None,
        client_private_key=key.read_bytes() if key else None,
    )


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """``lazy``: connect on the first call (a server starts while Temporal is down; runs it
    records wait for the sweep).

    Raises: RuntimeError (temporalio's) when the frontend cannot be reached (not ``lazy``).
    """
    api_key = configured_secret(
        settings.temporal_api_key, settings.temporal_api_key_file, "TEMPORAL_API_KEY"
    )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key or None,
        tls=tls_config(settings, api_key),
        lazy=lazy,
    )
