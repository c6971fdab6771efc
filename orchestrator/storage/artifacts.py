"""Artifact folders: one protocol for a local directory and for an S3 prefix.

Large arrays are not rows (house plan): a dataset's ``features.npy``, each round's
``latent.npy`` / ``posterior.npy`` / ``selected.npy`` / ``inclusion.npy`` / ``regions.npy`` /
``clusters.npy`` and its JSON files, and the campaign's ``final/`` folder live in an
*artifact folder*. The database stores the folder's **location** (``Dataset.artifact_dir``,
``Campaign.artifact_dir``, ``Round.artifact_dir``):

- an absolute local path (the default: under ``CROWDCLEAN_DATA_DIR``), meaningful on the
  host that wrote it (or hosts that mount the same path);
- an ``s3://bucket/prefix/...`` URL (``CROWDCLEAN_ARTIFACTS_URL=s3://bucket/prefix``),
  meaningful on every host that can reach the bucket: two schedulers on separate data
  directories that share one PostgreSQL database and one bucket can finish each other's
  campaigns.

The location says which store holds it, so rows written before S3 support (local paths) keep
working and a campaign's rounds are always read from where they were written, whatever this
host's ``CROWDCLEAN_ARTIFACTS_URL`` says today. Writes are atomic in both stores (a temporary
file and a rename locally; an S3 PUT is atomic): a reader sees the old object or the new one,
never a torn one. S3 reads go through a per-host cache directory
(``CROWDCLEAN_ARTIFACT_CACHE_DIR``), so readers that memory-map an array still do.

A missing artifact raises :class:`FileNotFoundError` naming its location in both stores; a
malformed location, a missing bucket or an unreachable endpoint raise
:class:`~orchestrator.storage.errors.StorageError` naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orchestrator.storage.errors import StorageError

if TYPE_CHECKING:
    import numpy.typing as npt

    from orchestrator.settings import Settings

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@runtime_checkable
class ArtifactDir(Protocol):
    """One folder of artifacts, addressed by a stored location; names are file names
    (``posterior.npy``), never paths."""

    @property
    def location(self) -> str:
        """What the database stores: an absolute local path or an ``s3://`` URL."""
        ...

    @property
    def name(self) -> str:
        """The folder's own name (``round-2``, ``final-fit``)."""
        ...

    def child(self, name: str) -> ArtifactDir:
        """The sub-folder ``name`` (not created until something is written in it)."""
        ...

    def exists(self, name: str) -> bool:
        """Whether the artifact ``name`` is there."""
        ...

    def save_npy(self, name: str, array: npt.ArrayLike) -> None:
        """Write ``array`` as ``name`` (``.npy`` format), atomically."""
        ...

    def load_npy(self, name: str, *, mmap: bool = False) -> npt.NDArray[Any]:
        """Read ``name``; ``mmap``: a read-only memory map (a local file, cached for S3)."""
        ...

    def write_json(self, name: str, value: Any) -> None:
        """Write ``value`` as JSON, atomically."""
        ...

    def read_json(self, name: str) -> Any:
        """Read the JSON artifact ``name``."""
        ...

    def remove(self) -> None:
        """Delete the folder and everything in it (a no-op if it does not exist)."""
        ...

    def check(self) -> None:
        """:class:`StorageError` unless the store can be written here (the local directory
        can be created; the bucket exists and the credentials reach it)."""
        ...


class ByLocation:
    """Identity for :class:`ArtifactDir` implementations: two folders of one kind are equal
    when their locations are, and show as ``Kind('location')``."""

    @property
    def location(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)


def _scheme(location: str) -> str | None:
    m = _SCHEME.match(location)
    return m.group(1).lower() if m else None


def _local_path(location: str) -> Path:
    if _scheme(location) == "file":
        return Path(location[len("file://") :])
    return Path(location)


def open_artifact_dir(location: str, *, settings: Settings | None = None) -> ArtifactDir:
    """The folder a stored location names: ``s3://bucket/key`` or a local path.

    ``settings`` (default: the process settings) give the S3 endpoint and this host's cache
    directory; a local location needs neither. :class:`StorageError` for an empty location or
    an unsupported scheme.
    """
    if not location:
        raise StorageError("empty artifact location (the row has no artifact folder)")
    scheme = _scheme(location)
    if scheme is None or scheme == "file":
        from orchestrator.storage.local_artifacts import LocalArtifactDir

        return LocalArtifactDir(_local_path(location))
    if scheme != "s3":
        raise StorageError(
            f"artifact location {location!r} has the unsupported scheme {scheme}:// "
            "(use s3://bucket/prefix or a local directory)"
        )
    from orchestrator.storage.s3_artifacts import S3ArtifactDir
    from orchestrator.storage.s3_client import S3Url

    if settings is None:
        from orchestrator.settings import get_settings

        settings = get_settings()
    return S3ArtifactDir.connect(
        S3Url.parse(location),
        endpoint_url=settings.s3_endpoint_url,
        cache_dir=artifact_cache_dir(settings),
    )


def artifact_cache_dir(settings: Settings) -> Path:
    """This host's S3 artifact cache: ``artifact_cache_dir`` or ``<data_dir>/artifact-cache``."""
    return Path(settings.artifact_cache_dir or Path(settings.data_dir) / "artifact-cache")


def artifact_root(settings: Settings | None = None) -> ArtifactDir:
    """Where new datasets and campaigns put their artifacts: ``artifacts_url`` when set
    (``s3://bucket/prefix`` or a local directory), else ``data_dir``."""
    if settings is None:
        from orchestrator.settings import get_settings

        settings = get_settings()
    url = settings.artifacts_url
    if not url:
        return open_artifact_dir(str(Path(settings.data_dir)), settings=settings)
    try:
        return open_artifact_dir(url, settings=settings)
    except StorageError as exc:
        raise StorageError(f"CROWDCLEAN_ARTIFACTS_URL: {exc}") from None


def as_artifact_dir(folder: Path | str | ArtifactDir) -> ArtifactDir:
    """``folder`` itself, or the folder a path or stored location names."""
    if isinstance(folder, ArtifactDir):
        return folder
    return open_artifact_dir(str(folder))
