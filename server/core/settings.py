"""Settings: one object, read from ``PAYBILL_*`` environment variables."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")


def default_database_url() -> str:
    """An embedded SQLite file in the user's data directory."""
    data_dir = Path(platformdirs.user_data_dir("paybill", appauthor=False))
    return f"sqlite:///{data_dir / 'paybill.db'}"


@functools.cache
def is_postgres(database_url: str) -> bool:
    """Whether the store at ``database_url`` is PostgreSQL (else SQLite)."""
    return parse_database_url(database_url).get_backend_name() == "postgresql"


def parse_database_url(value: str) -> URL:
    """Parse a database URL and refuse drivers Paybill is not tested on.

    Raises:
        ValueError: the URL is malformed or names an unsupported driver.
    """
    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {value!r}") from exc
    if url.drivername not in SUPPORTED_DRIVERS:
        raise ValueError(
            f"unsupported database driver {url.drivername!r}; "
            f"use one of: {', '.join(SUPPORTED_DRIVERS)}"
        )
    return url


class Settings(BaseSettings):
    """Everything configurable, with the ``PAYBILL_`` prefix (``PAYBILL_DATABASE_URL``...)."""

    model_config = SettingsConfigDict(env_prefix="PAYBILL_", extra="ignore")

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the control-plane store (sqlite or postgresql+psycopg).",
    )
    principal: str | None = Field(
        default=None, description="Principal the stdio server runs as (see `paybill serve`)."
    )
    policies_dir: Path | None = Field(
        default=None,
        description="Directory with plans.yaml and lifecycle.yaml; defaults to the packaged ones.",
    )

    rate_per_minute: int = Field(
        default=120, gt=0, description="Tool calls per minute allowed to each principal."
    )
    confirmed_reads: bool = Field(
        default=True,
        description="On PostgreSQL, decide calls that change nothing on state cached at the "
        "control versions last seen and confirm those versions, the rate-bucket takes and the "
        "audit event's id in one statement before the call acts (docs/call-cost.md). False "
        "reads the versions first on every call, as before.",
    )
    shared_rate_limits: bool = Field(
        default=True,
        description="On PostgreSQL, keep the per-principal and per-tenant rate buckets in the "
        "store, so that every replica takes from the same bucket (one statement per bucket "
        "a call takes). False keeps them in each process (N replicas allow N times the "
        "rate). SQLite stores always keep them in the process.",
    )
    max_argument_bytes: int = Field(
        default=16384, gt=0, description="Largest JSON-encoded tool arguments accepted."
    )
    statement_timeout_ms: int = Field(
        default=5000, gt=0, le=600_000, description="Longest a tenant data statement may run."
    )
    tenant_concurrency: int = Field(
        default=4,
        gt=0,
        le=64,
        description="Data statements one tenant may run at once in this process; more are "
        "refused with QUOTA_EXCEEDED (retry shortly).",
    )
    max_result_rows: int = Field(
        default=500, gt=0, le=10_000, description="Most rows one data call returns."
    )
    max_result_bytes: int = Field(
        default=1_048_576,
        gt=0,
        le=64 * 1_048_576,
        description="Largest result (JSON-encoded rows) one data call returns; a larger one "
        "is refused with QUOTA_EXCEEDED, not truncated.",
    )
    bulk_threshold: int = Field(
        default=100,
        gt=0,
        description="update_rows/delete_rows touching more rows than this need an approval.",
    )
    approval_ttl_seconds: int = Field(
        default=86400, gt=0, description="How long a pending approval may wait for a decision."
    )
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("paybill", appauthor=False)),
        description="Where local provisioning records live.",
    )

    audit_key_file: Path | None = Field(
        default=None,
        description="HMAC key of the audit chain, outside the database (default: "
        "<data_dir>/audit.key, created 0600 on first use). Every replica must read the same key.",
    )
    audit_checkpoint_file: Path | None = Field(
        default=None,
        description="Signed checkpoint of the audit log's tip (default: audit-<digest of the "
        "database URL>.checkpoint beside the key file); deleting events up to it is detected "
        "by `paybill audit verify`.",
    )
    audit_checkpoint_every: int = Field(
        default=100, gt=0, description="Write the audit checkpoint after this many events..."
    )
    audit_checkpoint_seconds: float = Field(
        default=60, gt=0, description="...or once this many seconds have passed since the last."
    )
    audit_seal_seconds: float = Field(
        default=0.1,
        gt=0,
        le=60,
        description="PostgreSQL: how long after a call's commit `paybill serve` seals its audit "
        "event into the chain (one sealing transaction for the events of that time). Until "
        "sealed, an event is proved by its content MAC but its deletion is not detected.",
    )

    provisioner: Literal["local", "terraform"] = Field(
        default="local",
        description="local: database objects only; terraform: the tenant's Terraform module "
        "for its cloud, then (local target) the database objects.",
    )
    terraform_bin: str | None = Field(
        default=None, description="Terraform or OpenTofu binary (default: terraform on PATH)."
    )
    terraform_state_backend: Literal["local", "pg"] = Field(
        default="local",
        description="Where each tenant's Terraform state lives: local (its working "
        "directory) or pg (a schema per tenant in the store's PostgreSQL database).",
    )
    terraform_cli_config: Path | None = Field(
        default=None,
        description="CLI configuration file for it (provider mirror); TF_CLI_CONFIG_FILE.",
    )
    terraform_platform: dict[str, str] = Field(
        default_factory=dict,
        description="Deployment-wide ids the tenant modules need, as a JSON object (shared "
        "instances, OCI compartment/subnet/vault OCIDs, Azure subscription; docs/clouds.md). "
        "Never secrets.",
    )

    # Cloud account vending for silo tenants (terraform provisioner). Credentials are never
    # settings: boto3's and google.auth's standard chains provide them.
    aws_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint for Organizations, IAM and STS instead of AWS's own (moto_server, "
        "LocalStack); unset in production.",
    )
    aws_account_email_domain: str | None = Field(
        default=None,
        description="Domain of the member accounts' emails (paybill+<slug>@DOMAIN); required "
        "to vend AWS accounts.",
    )
    gcp_endpoint: str | None = Field(
        default=None,
        description="Resource Manager endpoint instead of Google's; a loopback one (a local "
        "stand-in) is called with anonymous credentials.",
    )
    gcp_sql_endpoint: str | None = Field(
        default=None,
        description="Cloud SQL Admin endpoint instead of Google's (archiving GCP silo tenants); "
        "a loopback one (a local stand-in) is called with anonymous credentials.",
    )
    gcp_parent: str | None = Field(
        default=None,
        description="Where tenant projects are created: folders/N or organizations/N; required "
        "to vend GCP projects.",
    )

    worker_lease_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="How long a worker's claim on a workflow run holds without renewal; a run "
        "whose worker died is resumed by another worker after this long.",
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often an idle worker looks for runs."
    )
    step_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="How many times in a row a workflow step is run when a transient database "
        "fault (a dropped connection, a serialization failure, a deadlock) interrupts it, "
        "before its run fails.",
    )
    step_retry_backoff_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="The wait before a step's first re-run after a transient fault; it "
        "doubles with each further re-run, up to step_retry_backoff_max_seconds.",
    )
    step_retry_backoff_max_seconds: float = Field(
        default=8, gt=0, le=300, description="The longest wait between re-runs of a step."
    )
    embedded_worker: bool = Field(
        default=True,
        description="`paybill serve` runs a workflow worker in-process; turn off when "
        "dedicated `paybill worker` processes execute the runs.",
    )

    # The Temporal engine (docs/temporal.md): used only when workflow_engine is "temporal";
    # the embedded default imports nothing of Temporal.
    workflow_engine: Literal["embedded", "temporal"] = Field(
        default="embedded",
        description="Who schedules, retries and resumes workflow steps: the embedded worker "
        "(the store's own claims and leases) or a Temporal cluster.",
    )
    temporal_address: str = Field(
        default="127.0.0.1:7233", description="host:port of the Temporal frontend (gRPC)."
    )
    temporal_namespace: str = Field(
        default="default", description="The Temporal namespace Paybill's workflows run in."
    )
    temporal_task_queue: str = Field(
        default="paybill",
        description="The task queue `paybill worker --engine temporal` polls and runs start on.",
    )
    temporal_tls: bool = Field(
        default=False,
        description="Connect with TLS (system roots, or temporal_tls_ca_file); implied by a "
        "client certificate or an API key.",
    )
    temporal_tls_ca_file: Path | None = Field(
        default=None, description="PEM of the CA that signed the frontend's certificate."
    )
    temporal_tls_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mTLS (with temporal_tls_key_file)."
    )
    temporal_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of temporal_tls_cert_file."
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="API key for a hosted cluster (Temporal Cloud); sent as bearer."
    )
    temporal_api_key_file: Path | None = Field(
        default=None, description="File holding that API key instead (first line, stripped)."
    )
    temporal_sweep_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="How often a Temporal worker starts runs recorded but never started (the "
        "process that recorded one died before starting it).",
    )

    # Approval notifications (docs/approvals.md, "Notifications"): unset URL = off.
    approval_webhook_url: str | None = Field(
        default=None,
        description="http(s) URL that is POSTed each new pending approval (signed); unset: off.",
    )
    approval_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the Paybill-Signature header."
    )
    approval_webhook_secret_file: Path | None = Field(
        default=None, description="File holding that key instead (first line, stripped)."
    )
    approval_webhook_attempts: int = Field(
        default=8, ge=1, le=50, description="Deliveries tried before a notification is failed."
    )
    approval_webhook_backoff_seconds: float = Field(
        default=5, gt=0, le=3600, description="Wait after the first failed try; it doubles..."
    )
    approval_webhook_backoff_max_seconds: float = Field(
        default=600, gt=0, le=86400, description="...up to this long between tries."
    )
    approval_webhook_timeout_seconds: float = Field(
        default=5, gt=0, le=60, description="Connect and read timeout of one delivery."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text (human) or json (one object a line, with a line per tool call).",
    )

    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve Prometheus metrics at http://<metrics_host>:<port>/metrics from "
        "serve, worker and console; unset: off.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics endpoint binds."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (http://collector:4318) to send a trace "
        "per tool call to; unset: off.",
    )
    otlp_service_name: str = Field(default="paybill", description="service.name of the traces.")

    # Deploying behind a reverse proxy (README "Behind a reverse proxy").
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach this server at (https://paybill.example.com); its "
        "host and origin are accepted by the MCP endpoint and the console.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="More Host header values the MCP endpoint and the console accept besides "
        "the bind address, 127.0.0.1 and localhost (JSON list; 'name:*' for any port).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="More Origin header values the MCP endpoint accepts (JSON list).",
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description="Addresses of the proxies whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed (JSON list of IPs or networks); none by default.",
    )

    # OAuth 2.1 resource server (docs/oauth.md): on when an issuer is set.
    oauth_issuer: str | None = Field(
        default=None,
        description="The authorization server whose JWT access tokens the HTTP transports "
        "accept besides API keys (its exact `iss`); unset: API keys only.",
    )
    oauth_jwks_url: str | None = Field(
        default=None,
        description="Where the issuer's signing keys are (default: the jwks_uri its "
        "/.well-known/oauth-authorization-server or openid-configuration names).",
    )
    oauth_audience: str | None = Field(
        default=None,
        description="The `aud` tokens must carry (default: this server's resource URL, "
        "<public or bind URL>/mcp).",
    )
    oauth_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"],
        description="Signature algorithms accepted (asymmetric only; never none or HS*).",
    )
    oauth_principal_claim: str = Field(
        default="sub", description="The claim naming the Paybill principal a token acts as."
    )
    oauth_role_claim: str = Field(
        default="paybill_role", description="Optional claim: the role, which must match."
    )
    oauth_tenant_claim: str = Field(
        default="paybill_tenant", description="Optional claim: the tenant slug, which must match."
    )
    oauth_required_scopes: list[str] = Field(
        default_factory=list, description="Scopes every token must carry (JSON list)."
    )
    oauth_create_principals: bool = Field(
        default=False,
        description="Create an unknown principal from its token's role (and tenant) claims "
        "on first use; off: the principal must exist (`paybill principal add`).",
    )
    oauth_jwks_refresh_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="Shortest time between two fetches of the issuer's keys forced by a token "
        "naming an unknown key id (a rotated key waits at most this long).",
    )
    oauth_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp and nbf."
    )

    # The Stripe webhook (docs/billing-webhook.md): served at /webhooks/stripe by the HTTP
    # transports when a signing secret is set.
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="The endpoint's signing secret (whsec_...); unset: off."
    )
    stripe_webhook_secret_file: Path | None = Field(
        default=None, description="File holding that secret instead (first line, stripped)."
    )
    stripe_principal: str = Field(
        default="stripe",
        min_length=1,
        max_length=100,
        description="The billing_agent principal verified Stripe events act as.",
    )
    stripe_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="Oldest Stripe-Signature timestamp accepted (replayed deliveries beyond).",
    )
    console_url: str | None = Field(
        default=None,
        description="Base URL of the console; notifications link <console_url>/approvals/<id>.",
    )

    console_session_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        le=7 * 86400,
        description="How long an operator console login lasts before signing in again.",
    )
    console_secret_file: Path | None = Field(
        default=None,
        description="Key that signs console session cookies (default <data_dir>/console.key, "
        "created 0600 on first use). Every replica serving the console must read the same key.",
    )
    console_secure_cookie: bool = Field(
        default=False,
        description="Mark the console's session cookie Secure (always on for https requests); "
        "turn on behind a TLS-terminating proxy.",
    )
    console_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values the console answers besides its bind address, "
        "127.0.0.1 and localhost (JSON list, e.g. '[\"paybill.example.com\"]' behind a proxy).",
    )
    console_login_per_minute: int = Field(
        default=10, ge=1, le=1000, description="Console login attempts a minute per client."
    )

    @property
    def console_secret_path(self) -> Path:
        return self.console_secret_file or self.data_dir / "console.key"

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit.key"

    @property
    def audit_checkpoint_path(self) -> Path:
        """One checkpoint per store: several stores may share a data directory (and key)."""
        if self.audit_checkpoint_file is not None:
            return self.audit_checkpoint_file
        store = make_url(self.database_url).render_as_string(hide_password=True)
        digest = hashlib.sha256(store.encode()).hexdigest()[:12]
        return self.audit_key_path.with_name(f"audit-{digest}.checkpoint")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        parse_database_url(value)
        return value

    @field_validator("oauth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        weak = [a for a in value if a.lower() == "none" or a.upper().startswith("HS")]
        if weak or not value:
            raise ValueError(
                "must name asymmetric algorithms only (RS256, PS256, ES256, EdDSA...): "
                "none and HS* are never accepted"
            )
        return value

    @field_validator(
        "approval_webhook_url",
        "console_url",
        "public_url",
        "oauth_issuer",
        "oauth_jwks_url",
        "otlp_endpoint",
    )
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if not value:
            return None  # an empty variable is unset
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value
