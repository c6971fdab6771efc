"""Read the cell folders a ``crowdclean bench --workdir`` run leaves behind, with their gold.

A cell folder is named ``<dataset>-<kind>-<rate>-b<budget>-s<seed>`` and holds ``bench.db``
(the campaigns, items, answers and labels; no gold) and the campaigns' artifact folders. The
diagnostics under ``benchmarks/`` score what the campaigns did against gold, which the bench
never gave them: they rebuild the cell's noisy pool from its name (the same seeded split and
noise as the bench) and map the database's items onto it.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CELL = re.compile(
    r"^(?P<dataset>.+)-(?P<kind>random|structural)-(?P<rate>[\d.]+)-b[\d.]+-s(?P<seed>\d+)$"
)


@dataclass(frozen=True)
class Cell:
    """One bench cell: its read-only database and its noisy pool with gold.

    ``noisy`` is the ``NoisyDataset`` of ``orchestrator.bench.protocol.noisy_split`` (``gold``
    and ``noisy_labels``: ``(n_pool,)`` class indices into ``noisy.classes``); ``item`` maps
    a database item id (hex) to its row in that pool.
    """

    name: str
    db: sqlite3.Connection
    noisy: Any
    item: dict[str, int]

    def crowdclean_campaigns(self) -> list[tuple[str, str]]:
        """``(campaign id, method name)`` of the cell's crowdclean campaigns."""
        rows = self.db.execute("SELECT id, name FROM campaign WHERE name LIKE 'crowdclean%'")
        return [(str(cid), str(name)) for cid, name in rows.fetchall()]

    def class_index(self, label: str) -> int:
        """The pool's class index of a label as the database stores it."""
        return [str(c) for c in self.noisy.classes].index(label)


def _noisy_pool(dataset: str, kind: str, rate: float, seed: int, max_items: int) -> Any:
    from orchestrator.bench.protocol import BenchOptions, Noise, noisy_split
    from orchestrator.data.builtin import default_cache_dir

    options = BenchOptions(cache_dir=default_cache_dir(), max_items=max_items)
    return noisy_split(dataset, Noise.parse(f"{kind}:{rate}"), seed, options)[1]


def open_cell(folder: Path) -> Cell | None:
    """The cell of a bench cell folder; None for a folder that is not one."""
    m = CELL.match(folder.name)
    if m is None or not (folder / "bench.db").exists():
        return None
    db = sqlite3.connect(f"file:{folder / 'bench.db'}?mode=ro", uri=True)
    n_items = db.execute("SELECT count(*) FROM item").fetchone()[0]
    # A --max-items subsample has n_items rows, and a max_items of at least the pool's size
    # keeps the whole pool, so one call rebuilds both kinds of cell.
    noisy = _noisy_pool(m["dataset"], m["kind"], float(m["rate"]), int(m["seed"]), n_items)
    pos = {str(e): i for i, e in enumerate(noisy.ids)}
    item = {r[0]: pos[r[1]] for r in db.execute("SELECT id, external_id FROM item")}
    return Cell(folder.name, db, noisy, item)


def cells(workdirs: list[Path]) -> Iterator[Cell]:
    """Every bench cell under the given ``--workdir`` folders, in name order."""
    for w in workdirs:
        for folder in sorted(w.iterdir()):
            cell = open_cell(folder) if folder.is_dir() else None
            if cell is not None:
                yield cell


def write_campaign_rows(
    argv: list[str] | None,
    description: str,
    rows_of: Callable[[Cell, str], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Parse ``--workdir WORKDIR [WORKDIR ...] --out FILE``, write one JSON line per row that
    ``rows_of(cell, campaign id)`` gives for each crowdclean campaign (with its cell and
    method name), and return the rows."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workdir", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    rows = [
        {"cell": cell.name, "campaign": name, **row}
        for cell in cells(args.workdir)
        for cid, name in cell.crowdclean_campaigns()
        for row in rows_of(cell, cid)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), "utf-8")
    print(f"{len(rows)} rows -> {args.out}")
    return rows
