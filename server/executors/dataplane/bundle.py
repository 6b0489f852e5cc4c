"""The tenant export bundle: a tar archive of ``manifest.json`` and one JSON Lines file per
table (``tables/<table>.jsonl``). The format is specified in ``docs/export-format.md``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.dataplane.checksums import TableChecksum, canonical_json

log = logging.getLogger(__name__)

FORMAT = "paybill-tenant-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_MANIFEST_LIMIT = 1 << 20  # a manifest lists a handful of tables; refuse anything bigger


class ExportCorrupt(ProvisioningFailed):
    """The bundle is unreadable or its contents do not match its manifest."""


@dataclass(frozen=True)
class TableEntry:
    file: str
    rows: int
    sha256: str  # canonical checksum (checksums.py): what an import must reproduce
    file_sha256: str  # SHA-256 of the JSON Lines file's bytes


@dataclass(frozen=True)
class ExportManifest:
    format_version: int
    tenant_id: str
    isolation: str
    schema_revision: str
    created_at: str
    tables: dict[str, TableEntry]
    overall_sha256: str

    def checksums(self) -> dict[str, TableChecksum]:
        return {n: TableChecksum(e.rows, e.sha256) for n, e in self.tables.items()}

    def body(self) -> dict[str, Any]:
        """The manifest's JSON without ``overall_sha256``, which hashes exactly this."""
        data = asdict(self)
        del data["overall_sha256"]
        return {"format": FORMAT, **data}


def overall_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def table_file(name: str) -> str:
    return f"tables/{name}.jsonl"


def write_bundle(path: Path, manifest: ExportManifest, files: dict[str, IO[bytes]]) -> None:
    """Write the archive to a private temporary file beside ``path`` and rename it into place.

    Raises:
        ProvisioningFailed: the file cannot be written.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        # mkstemp creates the file 0600 before any byte of tenant data is written to it.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                body = canonical_json(
                    {**manifest.body(), "overall_sha256": manifest.overall_sha256}
                )
                _add(tar, MANIFEST, io.BytesIO(body), len(body))
                for name, handle in files.items():
                    size = handle.seek(0, io.SEEK_END)
                    handle.seek(0)
                    _add(tar, table_file(name), handle, size)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)  # atomic: readers see no bundle or a whole one
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        # The message reaches agents (a run's error): the server's path stays in its log.
        log.warning("could not write the export bundle %s: %s", path, exc.strerror)
        raise ProvisioningFailed(
            f"Could not write the tenant's export bundle: {exc.strerror}. Check the data "
            "directory's free space and permissions, then retry the run."
        ) from None


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o600
    tar.addfile(info, data)


class BundleReader:
    """Reads members by their expected names only (never extracts to disk)."""

    def __init__(self, path: Path) -> None:
        try:
            self._tar = tarfile.open(path, mode="r:")  # noqa: SIM115 (closed by __exit__)
            self.names = {m.name for m in self._tar.getmembers() if m.isfile()}
        except (OSError, tarfile.TarError) as exc:
            raise ExportCorrupt(f"{path} is not a readable export bundle: {exc}.") from None

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tar.close()

    def manifest(self) -> dict[str, Any]:
        """Raises:
        ExportCorrupt: no manifest, or not a JSON object.
        """
        member = self._member(MANIFEST)
        if member.size > _MANIFEST_LIMIT:
            raise ExportCorrupt("manifest.json is implausibly large.", member=MANIFEST)
        try:
            data = json.loads(self._open(MANIFEST).read())
        except ValueError as exc:
            raise ExportCorrupt(f"manifest.json is not JSON: {exc}.", member=MANIFEST) from None
        if not isinstance(data, dict):
            raise ExportCorrupt("manifest.json is not a JSON object.", member=MANIFEST)
        return data

    def lines(self, name: str, digest: Any) -> Iterator[dict[str, Any]]:
        """Rows of ``name``'s JSON Lines file; ``digest`` is updated with every byte read.

        Raises:
            ExportCorrupt: the file is missing or a line is not a JSON object.
        """
        for number, line in enumerate(self._open(table_file(name)), start=1):
            digest.update(line)
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise ExportCorrupt(
                    f"Table {name}: line {number} is not a JSON object.", table=name, line=number
                )
            yield row

    def _member(self, name: str) -> tarfile.TarInfo:
        if name not in self.names:
            raise ExportCorrupt(f"The bundle has no {name}.", member=name)
        return self._tar.getmember(name)

    def _open(self, name: str) -> IO[bytes]:
        handle = self._tar.extractfile(self._member(name))
        if handle is None:
            raise ExportCorrupt(f"{name} is not a regular file.", member=name)
        return handle
