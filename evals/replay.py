"""Replaying transcripts: a fresh seeded store, real servers, every step through the MCP
client, each result compared with the step's expectation and every refusal checked to have
changed nothing in the store."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.types import CallToolResult

from paybill.evals import snapshot
from paybill.evals.matcher import MissingCapture, extract, first_difference, substitute
from paybill.evals.report import Report, StepResult, TranscriptResult
from paybill.evals.sandbox import Sandbox, SandboxFactory
from paybill.evals.seed import SeedError, seed_key, seed_store
from paybill.evals.servers import Connections, Launcher, connect
from paybill.evals.transcript import Step, Transcript, load
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.store.database import make_engine

TRANSPORTS = ("stdio", "streamable-http")
# Refusals that keep what they recorded (see PaybillError.keeps_changes): a pending
# approval, a voided one, a failed provisioning run. Every other refusal changes nothing.
MAY_CHANGE: dict[str, frozenset[str]] = {
    "APPROVAL_REQUIRED": frozenset({"approvals"}),
    "CONFLICT": frozenset({"approvals"}),
}
UNCHECKED = "PROVISIONING_FAILED"


@dataclass
class ReplayOptions:
    transport: str = "stdio"
    pg_admin_url: str | None = None
    preload: bool = True
    jobs: int = 1  # transcripts replayed at once (each has its own store and servers)


@dataclass
class _Run:
    transcript: Transcript
    connections: Connections
    store: Any
    engines: Engines
    captured: dict[str, Any] = field(default_factory=dict)
    state: snapshot.Picture | None = None

    async def picture(self, since: snapshot.Picture | None = None) -> snapshot.Picture:
        """The settled store, taken again only after a call (or ``since`` an earlier one)."""
        if self.state is None or since is not None:
            self.state = await asyncio.to_thread(self._settled_picture, since)
        return self.state

    def _settled_picture(self, since: snapshot.Picture | None) -> snapshot.Picture:
        # Background workers finish what earlier steps started before the picture is
        # taken, so only the refused call itself can differ between two pictures.
        snapshot.settle(self.store)
        return snapshot.take(self.store, self.engines, since)


class Replayer:
    """Replays transcripts, each against a store of its own, sharing one sandbox factory
    (the initialised template stores) and one server launcher (the preloader) between
    replays. Use it as a context manager, or call ``close``."""

    def __init__(self, pg_admin_url: str | None = None, *, preload: bool = True) -> None:
        self.factory = SandboxFactory(pg_admin_url)
        try:
            self.launcher = Launcher(self.factory.root, preload=preload)
        except BaseException:
            self.factory.close()
            raise
        # Alembic's migration context is not thread-safe: one seed at a time per process.
        self._seeding = threading.Lock()
        # Seeded SQLite stores by seed (see _sandbox), copied for each replay.
        self._seeded: dict[str, tuple[Sandbox, dict[str, str]]] = {}

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.launcher.close()
        finally:
            self.factory.close()

    def _seed(self, sandbox: Sandbox, transcript: Transcript) -> dict[str, str]:
        with self._seeding:
            return seed_store(sandbox.database_url, sandbox.data_dir, transcript.header).keys

    def _seeded_copy(self, transcript: Transcript) -> tuple[Sandbox, dict[str, str]]:
        """A SQLite store seeded for ``transcript``: a copy of the first store seeded with
        the same seed. What a seed makes depends only on the backend, the seed and the
        principals (``seed_key``), so transcripts sharing them start from identical copies
        instead of repeating the same onboarding."""
        key = seed_key(transcript.header)
        with self._seeding:
            if key not in self._seeded:
                pristine = self.factory.create("sqlite")
                try:
                    header = transcript.header
                    keys = seed_store(pristine.database_url, pristine.data_dir, header).keys
                except BaseException:
                    self.factory.destroy(pristine)
                    raise
                self._seeded[key] = pristine, keys
            pristine, keys = self._seeded[key]
        return self.factory.copy(pristine), dict(keys)

    async def _sandbox(self, transcript: Transcript) -> tuple[Sandbox, dict[str, str]]:
        """A freshly seeded store for ``transcript`` and the seeded principals' keys.

        Raises:
            SeedError: the seed could not be applied.
        """
        if transcript.header.backend == "sqlite":
            return await asyncio.to_thread(self._seeded_copy, transcript)
        # PostgreSQL stores are seeded each time: copies would share the tenants' roles.
        sandbox = self.factory.create(transcript.header.backend)
        try:
            return sandbox, await asyncio.to_thread(self._seed, sandbox, transcript)
        except BaseException:
            self.factory.destroy(sandbox)
            raise

    async def replay(self, transcript: Transcript, transport: str = "stdio") -> TranscriptResult:
        """Replay ``transcript`` on ``transport`` against a freshly seeded store."""
        header = transcript.header
        try:
            sandbox, keys = await self._sandbox(transcript)
        except SeedError as exc:
            return _unseeded(transcript, transport, str(exc))
        try:
            env = _server_env(sandbox, transcript)
            log = sandbox.data_dir.parent / "server.log"
            store = make_engine(sandbox.database_url, write_lock=False)
            engines = Engines(sandbox.database_url, TenantCredentials(sandbox.data_dir))
            try:
                async with connect(self.launcher, transport, env, keys, log) as connections:
                    run = _Run(transcript, connections, store, engines)
                    results = [await _step(run, i, keys) for i in range(len(transcript.steps))]
            finally:
                engines.dispose()
                store.dispose()
        finally:
            self.factory.destroy(sandbox)
        failed = [r for r in results if not r.ok]
        first = failed[0] if failed else None
        return TranscriptResult(
            scenario=header.scenario,
            file=transcript.path.name if transcript.path else "<transcript>",
            transport=transport,
            steps=len(results),
            passed=len(results) - len(failed),
            failed=len(failed),
            first_difference=(
                f"step {first.index} (line {first.line}, {first.tool}): {first.difference}"
                if first
                else None
            ),
            results=results,
        )


async def replay_all(paths: list[Path], options: ReplayOptions) -> Report:
    """Replay every transcript in ``paths``, ``options.jobs`` at once, each against a store
    of its own; the report lists them in the order given."""
    transcripts = [load(p) for p in paths]
    limit = asyncio.Semaphore(max(1, options.jobs))
    with Replayer(options.pg_admin_url, preload=options.preload) as replayer:

        async def bounded(transcript: Transcript) -> TranscriptResult:
            async with limit:
                return await replayer.replay(transcript, options.transport)

        results = list(await asyncio.gather(*(bounded(t) for t in transcripts)))
    return Report(transport=options.transport, transcripts=results).totalled()


def _unseeded(transcript: Transcript, transport: str, reason: str) -> TranscriptResult:
    """Every step fails when the seed cannot be applied: nothing was replayed."""
    count = len(transcript.steps)
    return TranscriptResult(
        scenario=transcript.header.scenario,
        file=transcript.path.name if transcript.path else "<transcript>",
        transport=transport,
        steps=count,
        passed=0,
        failed=count,
        first_difference=f"seed: {reason[:300]}",
        results=[],
    )


def _server_env(sandbox: Sandbox, transcript: Transcript) -> dict[str, str]:
    # The harness's own PAYBILL_* variables would make a replay depend on the shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBILL_")}
    env["PAYBILL_DATABASE_URL"] = sandbox.database_url
    env["PAYBILL_DATA_DIR"] = str(sandbox.data_dir)
    # Transcripts call faster than any agent: no per-principal rate unless one asks for it,
    # and an idle worker looks for new runs often (a store holds a handful of runs).
    env["PAYBILL_RATE_PER_MINUTE"] = "1000000"
    env["PAYBILL_WORKER_POLL_SECONDS"] = "0.1"
    for name, value in transcript.header.settings.items():
        env[f"PAYBILL_{name.upper()}"] = str(value)
    return env


async def _step(run: _Run, index: int, keys: dict[str, str]) -> StepResult:
    step = run.transcript.steps[index]
    principal = step.as_ or run.transcript.header.principal
    result = StepResult(
        index=index + 1,
        line=run.transcript.lines[index] if run.transcript.lines else index + 2,
        tool=step.tool,
        principal=principal,
        ok=False,
    )
    if principal not in keys:
        result.difference = f"as: no seeded principal {principal!r}"
        return result
    try:
        arguments = substitute(step.arguments, run.captured)
        expected = substitute(step.expect.match, run.captured)
    except MissingCapture as missing:
        result.difference = f"${{{missing.args[0]}}} was not captured by an earlier step"
        return result
    before = await run.picture() if step.expect.is_error else None
    try:
        outcome = await run.connections.call(principal, step.tool, arguments)
    except Exception as exc:  # a protocol failure is this step's failure, not the run's
        run.state = None
        result.difference = f"call failed: {type(exc).__name__}: {str(exc)[:200]}"
        return result
    run.state = None
    payload = _payload(outcome)
    result.is_error = bool(outcome.is_error)
    result.code = _code(payload) if outcome.is_error else None
    result.difference = _compare(step, outcome, payload, expected)
    if result.difference is None:
        result.difference = _capture(run, step, payload)
    if result.difference is None and before is not None:
        result.difference = await _unchanged(run, before, step.tool, result.code)
    result.ok = result.difference is None
    return result


def _payload(outcome: CallToolResult) -> dict[str, Any]:
    if outcome.structured_content is not None:
        return dict(outcome.structured_content)
    text = " ".join(getattr(c, "text", "") for c in outcome.content)
    return {"text": text}


def _code(payload: dict[str, Any]) -> str | None:
    error = payload.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _compare(
    step: Step, outcome: CallToolResult, payload: dict[str, Any], expected: Any
) -> str | None:
    want = step.expect
    if bool(outcome.is_error) != want.is_error:
        code = _code(payload)
        got = f"an error {code}" if outcome.is_error else "a result"
        return f"is_error: expected {want.is_error}, got {got}" + _message(payload)
    if want.code is not None and _code(payload) != want.code:
        return f"error.code: expected {want.code}, got {_code(payload)}" + _message(payload)
    if expected is not None:
        found = first_difference(expected, payload)
        if found is not None:
            return f"match {found.describe()}"
    return None


def _message(payload: dict[str, Any]) -> str:
    error = payload.get("error")
    if isinstance(error, dict) and error.get("message"):
        return f" ({str(error['message'])[:160]})"
    return ""


def _capture(run: _Run, step: Step, payload: dict[str, Any]) -> str | None:
    for name, path in step.capture.items():
        try:
            run.captured[name] = extract(payload, path)
        except KeyError:
            return f"capture {name}: no {path!r} in the result"
    return None


async def _unchanged(
    run: _Run, before: snapshot.Picture, tool: str, code: str | None
) -> str | None:
    after = await run.picture(since=before)
    return refusal_difference(before, after, tool, code)


def refusal_difference(
    before: snapshot.Picture, after: snapshot.Picture, tool: str, code: str | None
) -> str | None:
    """What is wrong with the store after ``tool`` was refused with ``code``, or None: a
    refusal appends its one audit event and changes nothing else, but what its code may
    keep (MAY_CHANGE; UNCHECKED keeps a failed run and is not compared)."""
    unaudited = snapshot.unaudited(after, tool, code)
    if unaudited is not None:
        return f"refusal not audited as expected: {unaudited}"
    if code == UNCHECKED:
        return None
    changed = snapshot.changes(before, after, MAY_CHANGE.get(code or "", frozenset()))
    return f"store changed by a refused call: {changed}" if changed else None
