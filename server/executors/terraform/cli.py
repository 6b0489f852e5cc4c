"""The Terraform executor: the only module that runs terraform.

Each tenant gets a working directory of its own (module files copied in, local state kept
there), and every run follows ``init -> plan -out -> show -json -> policy check -> apply ->
output -json``. Errors are summarised from Terraform's own "Error:" lines, never dumped.
The binary and CLI configuration come from settings, so OpenTofu works as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform.plan_policy import PlanPolicy

TIER_NAMES = {0: "free", 1: "pro", 2: "enterprise"}


def tier_name(tier: int) -> str:
    """The Terraform tier of a plan tier (the plan policy's and the modules' vocabulary).

    Raises:
        ProvisioningFailed: a tier with no name: nothing runs (it would otherwise get some
            other tier's limits).
    """
    try:
        return TIER_NAMES[tier]
    except KeyError:
        raise ProvisioningFailed(
            f"Plan tier {tier} has no Terraform tier (known: "
            f"{', '.join(f'{k} = {v}' for k, v in sorted(TIER_NAMES.items()))}); nothing was "
            "run. Give the plan a known tier or extend the modules and the plan policy.",
            tier=tier,
        ) from None


LOCK_TIMEOUT_SECONDS = 300
Progress = Callable[[str], None]
# Each run saves its plan as tenant-<random>.tfplan in the tenant's working directory.
PLAN_FILES = "tenant-*.tfplan"
# A plan kept for an approval (``saved_plans``): removed when no approval or run needs it.
APPROVED_FILES = "approved-*.tfplan"


def workspaces_root(data_dir: Path) -> Path:
    """Where the tenants' working directories are (``<root>/<tenant id>/<cloud>``)."""
    return data_dir / "terraform"


def sweep_plan_files(
    root: Path,
    *,
    tenant_id: str | None = None,
    keep: frozenset[str] = frozenset(),
    keep_approved: frozenset[str] = frozenset(),
) -> list[Path]:
    """Remove saved plans left behind by runs that are over (a worker killed mid-run never
    reaches ``run_module``'s cleanup): those of ``tenant_id``, or of every tenant but the
    ones in ``keep`` (their runs may be planning right now). Returns what was removed.

    Plans kept for approvals (``approved-*.tfplan``) go too, unless named in
    ``keep_approved`` (those a live approval or an unfinished run still refers to).

    Only call it while no run of the swept tenants can be executing: a plan file belongs to
    the one run holding the tenant's run lock."""
    tenants = [root / tenant_id] if tenant_id else sorted(root.glob("*"))
    removed = []
    for tenant in tenants:
        if tenant.name in keep or not tenant.is_dir():
            continue
        approved = [p for p in tenant.glob(f"*/{APPROVED_FILES}") if p.name not in keep_approved]
        for plan in sorted([*tenant.glob(f"*/{PLAN_FILES}"), *approved]):
            plan.unlink(missing_ok=True)
            removed.append(plan)
    return removed


def modules_root() -> Path:
    return Path(str(files("paybill.terraform_modules")))


# An absolute path in Terraform's words (a working directory, a plan file, the module
# folder): errors reach tool results and console pages, which never show server paths.
_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)*[\w.@+-]+")


def summarise(stderr: str, stdout: str) -> str:
    """Terraform's error headlines, at most three, without ANSI noise, long bodies or
    absolute paths (each becomes ``<path>``)."""
    lines = [_PATH.sub("<path>", line.strip()) for line in (stderr + "\n" + stdout).splitlines()]
    errors = [line[len("Error: ") :] for line in lines if line.startswith("Error: ")]
    picked = errors[:3] or [next((line for line in lines if line), "terraform failed")]
    return "; ".join(text[:200] for text in picked)


@dataclass(frozen=True)
class Terraform:
    """A terraform (or tofu) binary with its CLI configuration."""

    binary: str
    cli_config: Path | None = None
    timeout_seconds: int = 1800

    @classmethod
    def locate(cls, binary: str | None, cli_config: Path | None) -> Terraform:
        """Raises: ProvisioningFailed when no binary is found."""
        path = shutil.which(binary or "terraform")
        if path is None:
            raise ProvisioningFailed(
                f"No Terraform binary found ({binary or 'terraform'} is not on PATH); install "
                "Terraform or OpenTofu, or set PAYBILL_TERRAFORM_BIN.",
            )
        return cls(path, cli_config)

    def run(self, workdir: Path, *args: str) -> str:
        """Run one terraform command; Raises: ProvisioningFailed with a short summary."""
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        if self.cli_config is not None:
            env["TF_CLI_CONFIG_FILE"] = str(self.cli_config)
        try:
            result = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
                [self.binary, *args],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ProvisioningFailed(
                f"terraform {args[0]} did not finish within {self.timeout_seconds} s."
            ) from None
        if result.returncode != 0:
            raise ProvisioningFailed(
                f"terraform {args[0]} failed: {summarise(result.stderr, result.stdout)}",
                command=args[0],
            )
        return result.stdout


def variables(
    facts: TenantFacts,
    account: Mapping[str, str] | None = None,
    platform: Mapping[str, str] | None = None,
    *,
    protect: bool = True,
) -> dict[str, Any]:
    """The module interface's inputs for one tenant (written as ``paybill.auto.tfvars.json``,
    so values never pass through a shell or the command line). ``account``: what the
    vendor created for a silo tenant (``vending.terraform_account``); ``platform``: the
    deployment's shared ids (``PAYBILL_TERRAFORM_PLATFORM``); ``protect``: False only in
    offboarding's deletion, to lift the data stores' deletion protection."""
    tier = tier_name(facts.tier)
    return {
        "tenant_id": facts.id,
        "tenant_slug": facts.slug,
        "tier": tier,
        "isolation": facts.isolation.value,
        "region": facts.region,
        "tags": {"paybill_slug": facts.slug, "paybill_plan": facts.plan, "managed_by": "paybill"},
        "account": dict(account or {}),
        "platform": dict(platform or {}),
        "deletion_protection": protect,
    }


class TenantWorkspace:
    """``<root>/<tenant id>/<cloud>``: the module's files, and the tenant's state, kept there
    (local backend) or in a schema of its own on PostgreSQL (``pg`` backend)."""

    def __init__(
        self,
        root: Path,
        facts: TenantFacts,
        state_conn: str | None = None,
        *,
        account: Mapping[str, str] | None = None,
        platform: Mapping[str, str] | None = None,
        protect: bool = True,
    ) -> None:
        self.facts = facts
        self.protect = protect
        self.path = root / facts.id / facts.cloud.value
        self.state_conn = state_conn
        self.account = dict(account or {})
        self.platform = dict(platform or {})

    @property
    def state_schema(self) -> str:
        return "pb_tfstate_" + self.facts.id.replace("-", "")

    def prepare(self) -> Path:
        """The module, the backend and this workspace's facts as its variables."""
        self.prepare_config()
        values = variables(self.facts, self.account, self.platform, protect=self.protect)
        text = json.dumps(values, indent=2, sort_keys=True)
        (self.path / "paybill.auto.tfvars.json").write_text(text + "\n")
        # Paybill's tenant run lock already serialises runs of this workspace, so a local
        # state lock left here can only belong to a terraform process killed mid-run.
        (self.path / ".terraform.tfstate.lock.info").unlink(missing_ok=True)
        return self.path

    def prepare_config(self) -> Path:
        """The module's files and the backend only. Files already as wanted are left as
        they are, so a plan for an approval never rewrites what a run is reading."""
        source = modules_root() / self.facts.cloud.value
        module_files = sorted(source.glob("*.tf"))
        if not module_files:  # never an empty configuration that plans nothing
            raise ProvisioningFailed(
                f"No Terraform module for cloud {self.facts.cloud.value!r} is installed; "
                "nothing was run.",
                cloud=self.facts.cloud.value,
            )
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for module_file in module_files:
            _write_if_changed(self.path / module_file.name, module_file.read_bytes())
        backend, config = self.path / "backend.tf", self.path / "state.tfbackend"
        if self.state_conn is None:
            backend.unlink(missing_ok=True)
            config.unlink(missing_ok=True)
        else:
            _write_if_changed(backend, b'terraform {\n  backend "pg" {}\n}\n')
            wanted = (
                f"conn_str = {json.dumps(self.state_conn)}\n"
                f"schema_name = {json.dumps(self.state_schema)}\n"
            ).encode()
            if not config.exists() or config.read_bytes() != wanted:
                # The connection string holds credentials: a private file, not the command
                # line.
                fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(wanted)
            os.chmod(config, 0o600)  # an older file may have been created more permissive
        return self.path

    def init_args(self) -> list[str]:
        if self.state_conn is None:
            return []
        return ["-reconfigure", "-backend-config=state.tfbackend"]


def _write_if_changed(path: Path, data: bytes) -> None:
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def pg_state_conn(database_url: str) -> str:
    """The store's PostgreSQL URL as Terraform's pg backend (lib/pq) wants it. lib/pq
    defaults to sslmode=require; a loopback server without TLS gets disable unless the URL
    says otherwise."""
    url = make_url(database_url).set(drivername="postgresql")
    if "sslmode" not in url.query:
        local = url.host in (None, "", "localhost", "127.0.0.1", "::1")
        url = url.update_query_dict({"sslmode": "disable" if local else "require"})
    return url.render_as_string(hide_password=False)


def run_module(
    terraform: Terraform,
    workspace: TenantWorkspace,
    policy: PlanPolicy,
    *,
    destroy: bool = False,
    offboarding: bool = False,
    progress: Progress = lambda _message: None,
) -> dict[str, Any]:
    """Plan, check and apply the tenant's module; return its outputs (empty after destroy).
    ``offboarding``: the plan policy lets this run lift deletion protection (destroy runs
    are offboarding's by definition).

    Raises:
        ProvisioningFailed: a terraform step failed or the plan broke the tier's policy.
    """
    facts = workspace.facts
    workdir = workspace.prepare()
    # State locks are waited for, not failed on: the pg backend takes one database-wide lock
    # while it creates a workspace, so two tenants' first runs can meet there.
    flags = ["-input=false", "-no-color"]
    locking = [f"-lock-timeout={LOCK_TIMEOUT_SECONDS}s"]
    # A plan file of this run's own: another worker resuming this workspace after a lost
    # lease can never swap in a plan that this run did not check.
    plan_file = f"tenant-{uuid.uuid4().hex[:12]}.tfplan"
    try:
        progress("terraform init")
        terraform.run(workdir, "init", *flags, *workspace.init_args())
        progress("terraform plan")
        plan_args = ["plan", *flags, *locking, f"-out={plan_file}"]
        terraform.run(workdir, *([*plan_args, "-destroy"] if destroy else plan_args))
        plan = json.loads(terraform.run(workdir, "show", "-no-color", "-json", plan_file))
        progress("policy check")
        policy.check(
            plan,
            tier=tier_name(facts.tier),
            tenant_id=facts.id,
            offboarding=destroy or offboarding,
        )
        progress("terraform apply")
        terraform.run(workdir, "apply", *flags, *locking, plan_file)
    finally:
        (workdir / plan_file).unlink(missing_ok=True)
    if destroy:
        return {}
    outputs = json.loads(terraform.run(workdir, "output", "-no-color", "-json"))
    return {name: item["value"] for name, item in outputs.items()}
