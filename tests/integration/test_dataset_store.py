"""Import into a real database (SQLite and PostgreSQL): all-or-nothing, and loads back equal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from orchestrator.data.errors import DatasetError
from orchestrator.data.importer import ColumnMapping, read_dataset_file
from orchestrator.data.store import load_dataset, save_dataset
from orchestrator.db.models import Dataset, Item


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "pets.csv"
    path.write_text(
        "id,label,f1,f2,gold\n"
        + "".join(
            f"p{i},{'cat' if i % 3 else 'dog'},{i * 0.5},{i % 4},{'dog' if i % 5 == 0 else ''}\n"
            for i in range(50)
        ),
        encoding="utf-8",
    )
    return path


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(Dataset)).one(),
            s.exec(select(func.count()).select_from(Item)).one(),
        )


def test_import_round_trip(engine: Engine, tmp_path: Path) -> None:
    mapping = ColumnMapping(feature_columns=("f1", "f2"), gold_column="gold")
    data = read_dataset_file(_csv(tmp_path), mapping)
    ds = save_dataset(engine, data, name="pets", source="pets.csv", data_dir=tmp_path / "art")
    assert _counts(engine) == (1, 50)
    back = load_dataset(engine, "pets")
    assert back.ids.tolist() == data.ids.tolist()
    np.testing.assert_array_equal(back.features, data.features)
    np.testing.assert_array_equal(back.noisy_labels, data.noisy_labels)
    np.testing.assert_array_equal(back.gold, data.gold)
    assert back.classes == data.classes
    assert load_dataset(engine, str(ds.id)).n_items == 50
    assert (Path(ds.artifact_dir) / "features.npy").is_file()


def test_duplicate_name_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    data = read_dataset_file(_csv(tmp_path), ColumnMapping(feature_columns=("f1", "f2")))
    save_dataset(engine, data, name="pets", source="a", data_dir=tmp_path / "art")
    before = sorted((tmp_path / "art" / "datasets").iterdir())
    with pytest.raises(DatasetError, match="already have a dataset named"):
        save_dataset(engine, data, name="pets", source="b", data_dir=tmp_path / "art")
    assert _counts(engine) == (1, 50)
    assert sorted((tmp_path / "art" / "datasets").iterdir()) == before


def test_failed_insert_rolls_back_rows_and_files(engine: Engine, tmp_path: Path) -> None:
    data = read_dataset_file(_csv(tmp_path), ColumnMapping(feature_columns=("f1", "f2")))
    # Two rows with one id can only come from a caller bypassing the reader's validation:
    # the database's unique constraint must still stop it, leaving nothing behind.
    ids = data.ids.copy()
    ids[7] = ids[3]
    from dataclasses import replace

    bad = replace(data, ids=ids)
    with pytest.raises(DatasetError, match="could not store"):
        save_dataset(engine, bad, name="broken", source="x", data_dir=tmp_path / "art")
    assert _counts(engine) == (0, 0)
    assert not any((tmp_path / "art" / "datasets").iterdir())


def test_unknown_dataset(engine: Engine) -> None:
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(engine, "nope")


def test_names_are_per_owner_and_lookups_stay_in_scope(engine: Engine, tmp_path: Path) -> None:
    from orchestrator.data.errors import DatasetNameTakenError
    from orchestrator.data.store import get_dataset

    data = read_dataset_file(_csv(tmp_path), ColumnMapping(feature_columns=("f1", "f2")))
    art = tmp_path / "art"
    a = save_dataset(engine, data, name="pets", source="a", data_dir=art, owner="alice")
    b = save_dataset(engine, data, name="pets", source="b", data_dir=art, owner="bob")
    op = save_dataset(engine, data, name="pets", source="c", data_dir=art)
    assert len({a.id, b.id, op.id}) == 3 and (a.owner, b.owner, op.owner) == ("alice", "bob", None)
    for owner in ("alice", None):  # operator datasets (NULL owner) collide with each other too
        with pytest.raises(DatasetNameTakenError, match="you already have"):
            save_dataset(engine, data, name="pets", source="d", data_dir=art, owner=owner)
    assert get_dataset(engine, "pets", owner="bob").id == b.id
    assert get_dataset(engine, "pets", owner=None).id == op.id
    assert get_dataset(engine, "pets").id == op.id  # the operator's view prefers its own
    with pytest.raises(DatasetError, match="no such dataset"):
        get_dataset(engine, str(a.id), owner="bob")  # another owner's id is not found either
    with pytest.raises(DatasetError, match="no such dataset"):
        get_dataset(engine, "pets", owner="carol")


def test_concurrent_imports_of_one_name_store_exactly_one(engine: Engine, tmp_path: Path) -> None:
    import threading

    from orchestrator.data.errors import DatasetNameTakenError

    data = read_dataset_file(_csv(tmp_path), ColumnMapping(feature_columns=("f1", "f2")))
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def one() -> None:
        barrier.wait()
        try:
            save_dataset(engine, data, name="race", source="x", data_dir=tmp_path, owner="alice")
            outcomes.append("ok")
        except DatasetNameTakenError:
            outcomes.append("taken")
        except Exception as exc:  # anything else is the bug under test
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["taken"] * 5, outcomes
    assert _counts(engine) == (1, 50)
    leftovers = [p.name for p in (tmp_path / "datasets").iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize("bad", ["", "   ", "n" * 201, "a\x00b", "tab\x0bname", "x\ufffe"])
def test_bad_dataset_names_are_refused_alike_on_both_databases(
    engine: Engine, tmp_path: Path, bad: str
) -> None:
    data = read_dataset_file(_csv(tmp_path), ColumnMapping(feature_columns=("f1", "f2")))
    with pytest.raises(DatasetError, match="dataset name"):
        save_dataset(engine, data, name=bad, source="upload", data_dir=tmp_path / "art")
    assert _counts(engine) == (0, 0)


def test_display_values_are_stored_and_load_back(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "id,label,island,mass_g\na,Adelie,Biscoe,3750\nb,Gentoo,Dréam ذ,5200\n", encoding="utf-8"
    )
    data = read_dataset_file(path, ColumnMapping(feature_columns=("mass_g",)))
    save_dataset(engine, data, name="peng", source="p.csv", data_dir=tmp_path / "art")
    back = load_dataset(engine, "peng")
    assert back.display == data.display
    assert back.display is not None and back.display.values[1] == ("Dréam ذ", "5200")
