"""Artifact folders in a local directory (the default store).

Writes go to a temporary file beside the target and are renamed over it, so a kill never
leaves a torn file; the folder and its parents are created by the first write.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.storage.artifacts import ByLocation
from orchestrator.storage.errors import StorageError


def write_json_file(path: Path, value: Any) -> None:
    """JSON via a temporary file and a rename, so a kill never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(value), "utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npy_file(path: Path, array: npt.ArrayLike) -> None:
    """``np.save`` via a temporary file and a rename, so a kill never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class LocalArtifactDir(ByLocation):
    """:class:`~orchestrator.storage.artifacts.ArtifactDir` on a local directory; its location
    is the absolute path."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    def child(self, name: str) -> LocalArtifactDir:
        return LocalArtifactDir(self.path / name)

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def save_npy(self, name: str, array: npt.ArrayLike) -> None:
        save_npy_file(self.path / name, array)

    def load_npy(self, name: str, *, mmap: bool = False) -> npt.NDArray[Any]:
        return np.load(self.path / name, mmap_mode="r" if mmap else None)

    def write_json(self, name: str, value: Any) -> None:
        write_json_file(self.path / name, value)

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text("utf-8"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def check(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the artifact directory {self.path}: {exc}") from exc
        if not os.access(self.path, os.W_OK):
            raise StorageError(f"the artifact directory {self.path} is not writable")
