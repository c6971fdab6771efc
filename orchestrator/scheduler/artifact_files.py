"""Round artifacts written atomically (a temporary file and a rename: a kill never leaves a
torn file)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def write_json(path: Path, value: Any) -> None:
    """JSON via a temporary file and a rename, so a kill never leaves a torn file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(value), "utf-8")
    os.replace(tmp, path)


def save_npy(path: Path, array: npt.ArrayLike) -> None:
    """``np.save`` via a temporary file and a rename, so a kill never leaves a torn file."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)
