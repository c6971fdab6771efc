"""``/v1/datasets``: list the datasets you may use; import one by upload (multipart)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from orchestrator.api import rules
from orchestrator.api.deps import EngineDep, RequesterDep, SettingsDep
from orchestrator.api.errors import InvalidInputError
from orchestrator.api.problems import Problem
from orchestrator.api.schemas import DatasetOut
from orchestrator.storage.artifacts import artifact_root

if TYPE_CHECKING:
    from orchestrator.db.models import FeatureKind

router = APIRouter(prefix="/datasets", tags=["datasets"])

UPLOAD_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


@router.get("", response_model=list[DatasetOut], summary="Datasets visible to your key")
def list_datasets(engine: EngineDep, principal: RequesterDep) -> list[DatasetOut]:
    return [DatasetOut.of(d) for d in rules.list_datasets(engine, principal)]


@router.get("/{ref}", response_model=DatasetOut, summary="One dataset by id or name")
def get_dataset(ref: str, engine: EngineDep, principal: RequesterDep) -> DatasetOut:
    return DatasetOut.of(rules.dataset_for(engine, principal, ref))


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _upload_suffix(filename: str) -> str:
    """The upload's file type (``.csv``…), or 415 naming the types the import reads."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise Problem(
            415,
            "unsupported-media-type",
            f"cannot import {filename!r}: the file name must end in one of "
            f"{', '.join(UPLOAD_SUFFIXES)}",
        )
    return suffix


def _feature_kind(kind: str | None) -> FeatureKind | None:
    """The form's ``kind`` (empty: inferred), or 422 naming the kinds there are."""
    from orchestrator.db.models import FeatureKind

    try:
        return FeatureKind(kind) if kind else None
    except ValueError:
        raise InvalidInputError(
            f"kind must be one of {', '.join(k.value for k in FeatureKind)}, got {kind!r}"
        ) from None


@router.post(
    "",
    response_model=DatasetOut,
    status_code=status.HTTP_201_CREATED,
    summary="Import a CSV, JSONL or Parquet file",
    description="Multipart form: `file` plus the column mapping of `crowdclean dataset import`. "
    "The whole file is validated first; a bad row is refused (422) naming its row and column "
    "and nothing is stored. Larger than `max_upload_bytes`: 413.",
)
def import_dataset(
    engine: EngineDep,
    settings: SettingsDep,
    principal: RequesterDep,
    file: Annotated[UploadFile, File(description="CSV, JSONL or Parquet.")],
    name: Annotated[str | None, Form(max_length=200)] = None,
    id_col: Annotated[str, Form()] = "id",
    label_col: Annotated[str, Form()] = "label",
    text_col: Annotated[str | None, Form()] = None,
    feature_cols: Annotated[str | None, Form(description="Comma-separated.")] = None,
    vector_col: Annotated[str | None, Form()] = None,
    image_col: Annotated[
        str | None,
        Form(
            description="Column of image URLs (https; s3://bucket/key). An upload cannot name "
            "files on the server: import local image files with the CLI."
        ),
    ] = None,
    display_cols: Annotated[
        str | None,
        Form(description="Comma-separated columns shown to workers as a table, in order."),
    ] = None,
    gold_col: Annotated[str | None, Form()] = None,
    validation_col: Annotated[str | None, Form()] = None,
    classes: Annotated[str | None, Form(description="Comma-separated class set.")] = None,
    kind: Annotated[str | None, Form(description="continuous | pixels | counts")] = None,
) -> DatasetOut:
    from orchestrator.data.image_upload import image_import_options
    from orchestrator.data.importer import ColumnMapping

    filename = PurePath(file.filename or "upload").name
    suffix = _upload_suffix(filename)
    mapping = ColumnMapping(
        id_column=id_col,
        label_column=label_col,
        text_column=text_col,
        feature_columns=_split(feature_cols),
        vector_column=vector_col,
        image_column=image_col,
        display_columns=_split(display_cols),
        gold_column=gold_col,
        validation_column=validation_col,
        classes=_split(classes) or None,
        feature_kind=_feature_kind(kind),
    )
    with tempfile.TemporaryDirectory(prefix="crowdclean-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        ds = rules.import_dataset(
            engine,
            principal,
            path,
            filename=filename,
            mapping=mapping,
            name=name or PurePath(filename).stem,
            data_dir=artifact_root(settings),
            images=image_import_options(settings, local_files=False),
        )
    return DatasetOut.of(ds)
