"""Persist a validated dataset (rows in the DB, features as an ``.npy`` artifact) and load it back.

The write is all-or-nothing: the feature file is written (atomically) into the dataset's new
artifact folder, which no row names yet; the dataset and item rows are inserted in one
transaction; a failure at any step deletes the folder, leaving neither rows nor files behind.
The folder is local or in S3 (:mod:`orchestrator.storage.artifacts`); the dataset row stores
its location.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from orchestrator.data.dataset import UNKNOWN, DisplayTable, LabeledData
from orchestrator.data.errors import DatasetError, DatasetNameTakenError
from orchestrator.data.importer import fingerprint
from orchestrator.db.models import Dataset, Item
from orchestrator.storage.artifacts import ArtifactDir, as_artifact_dir, open_artifact_dir

FEATURES_FILE = "features.npy"
_INSERT_BATCH = 5000


class ImageStore(Protocol):
    """Puts an import's local image files where every host and every worker can reach them."""

    def store_images(self, refs: Sequence[str]) -> tuple[str, ...]:
        """``refs`` with each local file path replaced by its stored reference (``s3://…``);
        URLs and other references unchanged. Raises :class:`DatasetError` naming the file."""
        ...


def _owned_by(owner: str | None) -> Any:
    return col(Dataset.owner).is_(None) if owner is None else col(Dataset.owner) == owner


def _name_taken(engine: Engine, name: str, owner: str | None) -> bool:
    with Session(engine) as session:
        query = select(Dataset.id).where(Dataset.name == name, _owned_by(owner))
        return session.exec(query).first() is not None


MAX_NAME_CHARS = 200  # the column's width (``Dataset.name``)
_BAD_NAME_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _check_name(name: str, source: str) -> None:
    """1-200 characters, none of them a control character, noncharacter or lone surrogate:
    PostgreSQL refuses NUL and over-long values with a DataError, SQLite stores them."""
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise DatasetError(
            f"a dataset name has 1 to {MAX_NAME_CHARS} characters; got {len(name)}", source=source
        )
    bad = _BAD_NAME_CHAR.search(name)
    if bad is not None:
        raise DatasetError(
            f"the dataset name holds the character U+{ord(bad.group()):04X} at position "
            f"{bad.start() + 1}, which is not allowed (control character or noncharacter)",
            source=source,
        )


def _taken(name: str, source: str) -> DatasetNameTakenError:
    return DatasetNameTakenError(
        f"you already have a dataset named {name!r}; pick another name", source=source
    )


def _item_rows(
    data: LabeledData, dataset_id: uuid.UUID, image_paths: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The ``Item`` rows of ``data``, in order, as dicts for one bulk insert."""
    return [
        {
            "id": uuid.uuid4(),
            "dataset_id": dataset_id,
            "external_id": str(data.ids[i]),
            "position": i,
            "noisy_label": data.classes[int(data.noisy_labels[i])],
            "gold_label": data.classes[int(data.gold[i])] if data.gold[i] != UNKNOWN else None,
            "is_validation": bool(data.validation[i]),
            "text": data.texts[i] if data.texts is not None else None,
            "image_path": image_paths[i] if image_paths is not None else None,
            "display_values": list(data.display.values[i]) if data.display is not None else None,
        }
        for i in range(data.n_items)
    ]


def save_dataset(
    engine: Engine,
    data: LabeledData,
    *,
    name: str,
    source: str,
    data_dir: Path | ArtifactDir,
    owner: str | None = None,
    image_store: ImageStore | None = None,
) -> Dataset:
    """Store ``data`` under ``name`` for ``owner`` (None: the operator).

    ``data_dir``: the artifact root (a local directory, or
    :func:`~orchestrator.storage.artifacts.artifact_root` of the settings); the features go to
    ``<root>/datasets/<id>/features.npy`` (n_items × n_features, float32).

    ``image_store``: where local image files go (uploaded, content-addressed, before any row is
    written; an aborted import leaves at most objects that a later import of the same files
    reuses). Without it, local paths are stored as they are.

    Names are unique per owner; :class:`DatasetNameTakenError` if the owner has the name
    already, including when a concurrent import of the same name commits first (the unique
    index decides, so exactly one of them wins).
    """
    _check_name(name, source)
    if _name_taken(engine, name, owner):
        raise _taken(name, source)
    dataset_id = uuid.uuid4()
    image_paths = data.image_paths
    if image_paths is not None and image_store is not None:
        image_paths = image_store.store_images(image_paths)
    folder = as_artifact_dir(data_dir).child("datasets").child(str(dataset_id))
    try:
        folder.save_npy(FEATURES_FILE, np.ascontiguousarray(data.features, dtype=np.float32))
        dataset = Dataset(
            id=dataset_id,
            name=name,
            source=source,
            feature_kind=data.feature_kind,
            n_items=data.n_items,
            n_features=int(data.features.shape[1]),
            classes=list(data.classes),
            artifact_dir=folder.location,
            fingerprint=fingerprint(data),
            owner=owner,
            display=(
                {"columns": list(data.display.columns), "omitted": data.display.omitted}
                if data.display is not None
                else None
            ),
        )
        with Session(engine, expire_on_commit=False) as session:
            session.add(dataset)
            rows = _item_rows(data, dataset_id, image_paths)
            try:
                # The dataset row is flushed here, inside the try: a concurrent import of the
                # same name fails on the unique index at this flush or at the commit.
                session.flush()
                for start in range(0, len(rows), _INSERT_BATCH):
                    session.execute(insert(Item), rows[start : start + _INSERT_BATCH])
                session.commit()
            except IntegrityError as exc:
                session.rollback()
                if _name_taken(engine, name, owner):
                    raise _taken(name, source) from None
                raise DatasetError(
                    f"could not store dataset {name!r}: {exc.orig}", source=source
                ) from exc
    except BaseException:
        folder.remove()
        raise
    return dataset


ANY_OWNER = "*any*"
"""``owner`` for :func:`get_dataset`: look across every owner (an operator's view)."""


def get_dataset(engine: Engine, ref: str | uuid.UUID, *, owner: str | None = ANY_OWNER) -> Dataset:
    """The dataset with this id, or this name among ``owner``'s datasets.

    ``owner`` None means the operator's own datasets; :data:`ANY_OWNER` (the default, the
    CLI's view) takes a name the operator owns first, else the one dataset of that name, and
    refuses a name several requesters use (pass the id). :class:`DatasetError` if none.
    """
    with Session(engine, expire_on_commit=False) as session:
        found: Dataset | None = None
        try:
            found = session.get(Dataset, uuid.UUID(str(ref)))
        except ValueError:
            found = None
        if found is not None and owner != ANY_OWNER and found.owner != owner:
            found = None
        if found is None:
            query = select(Dataset).where(Dataset.name == str(ref))
            if owner != ANY_OWNER:
                query = query.where(_owned_by(owner))
            named = list(session.exec(query.limit(50)).all())
            mine = [d for d in named if d.owner is None]
            if len(named) == 1 or (owner == ANY_OWNER and len(mine) == 1):
                found = (mine or named)[0]
            elif named:
                owners = ", ".join(sorted(str(d.owner) for d in named))
                raise DatasetError(
                    f"several datasets are named {str(ref)!r} (owners {owners}); pass the id",
                    source=str(ref),
                )
        if found is None:
            raise DatasetError("no such dataset (id or name)", source=str(ref))
        return found


def load_dataset(engine: Engine, ref: str | uuid.UUID) -> LabeledData:
    """Rebuild the in-memory dataset (rows ordered by ``position``)."""
    dataset = get_dataset(engine, ref)
    features = open_artifact_dir(dataset.artifact_dir).load_npy(FEATURES_FILE, mmap=True)
    with Session(engine) as session:
        items = session.exec(
            select(Item).where(Item.dataset_id == dataset.id).order_by(col(Item.position))
        ).all()
    index = {c: k for k, c in enumerate(dataset.classes)}
    has_text = any(it.text is not None for it in items)
    has_image = any(it.image_path is not None for it in items)
    return LabeledData(
        ids=np.asarray([it.external_id for it in items], dtype=np.str_),
        features=np.asarray(features, dtype=np.float32),
        feature_kind=dataset.feature_kind,
        noisy_labels=np.asarray([index[it.noisy_label] for it in items], dtype=np.int64),
        classes=tuple(dataset.classes),
        gold=np.asarray(
            [index[it.gold_label] if it.gold_label is not None else UNKNOWN for it in items],
            dtype=np.int64,
        ),
        validation=np.asarray([it.is_validation for it in items], dtype=np.bool_),
        texts=tuple(it.text or "" for it in items) if has_text else None,
        image_paths=tuple(it.image_path or "" for it in items) if has_image else None,
        name=dataset.name,
        display=_display_of(dataset, items),
    )


def _display_of(dataset: Dataset, items: Sequence[Item]) -> DisplayTable | None:
    if not dataset.display:
        return None
    columns = tuple(str(c) for c in dataset.display.get("columns", []))
    return DisplayTable(
        columns,
        tuple(tuple(it.display_values or [""] * len(columns)) for it in items),
        omitted=int(dataset.display.get("omitted", 0)),
    )


def item_ids_by_position(engine: Engine, dataset_id: uuid.UUID) -> list[uuid.UUID]:
    """Item primary keys ordered by position: row ``i`` of the arrays is ``result[i]``."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(Item.id).where(Item.dataset_id == dataset_id).order_by(col(Item.position))
            ).all()
        )
