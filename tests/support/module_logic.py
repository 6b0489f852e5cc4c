"""Run a cloud module's plan-time logic (``variables.tf`` and ``identity.tf``: they read only
variables) with the offline Terraform: the cloud providers cannot be installed here, but
this part of each module needs none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from paybill.server.executors.terraform.cli import Terraform, modules_root

LOGIC_FILES = ("variables.tf", "identity.tf")


class ModuleLogic:
    """One module's variables and identity locals, initialised in ``workdir``."""

    def __init__(self, terraform: Terraform, target: str, workdir: Path) -> None:
        self.terraform = terraform
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        for name in LOGIC_FILES:
            shutil.copy(modules_root() / target / name, workdir / name)
        self._run("init", "-input=false", "-no-color", "-backend=false")

    def _run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        if self.terraform.cli_config is not None:
            env["TF_CLI_CONFIG_FILE"] = str(self.terraform.cli_config)
        # The test's own terraform binary; arguments built here.
        return subprocess.run(
            [self.terraform.binary, *args],
            cwd=self.workdir,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def _var_file(self, values: dict[str, Any]) -> str:
        (self.workdir / "probe.tfvars.json").write_text(json.dumps(values))
        return "-var-file=probe.tfvars.json"

    def problem(self, values: dict[str, Any]) -> str | None:
        """Plan with ``values``: None when every check passes, else Terraform's error text
        (a failed validation block or identity check) on one line."""
        result = self._run("plan", "-input=false", "-no-color", self._var_file(values))
        if result.returncode == 0:
            return None
        return " ".join(result.stderr.split())

    def value(self, values: dict[str, Any], expression: str) -> Any:
        """``expression`` (e.g. ``local.assume_role_arn``) evaluated with ``values``."""
        result = self._run(
            "console", "-no-color", self._var_file(values), stdin=f"jsonencode({expression})\n"
        )
        assert result.returncode == 0, result.stderr
        return json.loads(json.loads(result.stdout))
