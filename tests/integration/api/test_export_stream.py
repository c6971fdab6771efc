"""Chunked exports: the rows follow the documented precedence, and memory stays bounded."""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import Engine

from orchestrator.campaigns.cleaned_labels import (
    campaign_export_chunks,
    campaign_export_rows,
    choose_relabel_threshold,
    cleaned_labels,
    label_context,
)
from orchestrator.export import EXPORT_COLUMNS, ExportRow, write_export
from orchestrator.export.writer import iter_export_bytes
from tests.factories.stored_campaign import build_campaign, expected_labels


def test_rows_follow_precedence(engine: Engine, tmp_path: Path) -> None:
    sc = build_campaign(engine, tmp_path, n_items=400, seed=3)
    val = np.array(sorted(sc.validation))
    assert sc.posterior is not None
    threshold = choose_relabel_threshold(
        sc.posterior[val], sc.noisy[val], np.array([sc.verified[p] for p in val])
    )
    want_labels, want_sources = expected_labels(sc, threshold)
    rows = list(campaign_export_rows(engine, sc.campaign_id))
    assert [r.item_id for r in rows] == [f"item-{i:07d}" for i in range(400)]
    assert [r.cleaned_label for r in rows] == [sc.classes[k] for k in want_labels]
    assert [r.source for r in rows] == want_sources
    assert {"model", "crowd", "propagated", "original"} <= set(want_sources)
    for i, r in enumerate(rows):
        assert r.original_label == sc.classes[int(sc.noisy[i])]
        if i in sc.verified:
            assert r.n_workers == 3 and sum(json.loads(r.vote_counts).values()) == 3
            assert r.round == sc.verified_round[i]
        else:
            assert r.n_workers == 0 and r.vote_counts == "{}"
            assert r.round == (1 if i in sc.propagated else -1)
        assert sc.clusters is not None and r.cluster == int(sc.clusters[i])
        assert 0.0 <= r.confidence <= 1.0
        # p_label_wrong is about the original label: the crowd's posterior where it answered
        # (0.9 is the stored crowd confidence), else the model's
        if i in sc.verified:
            assert r.p_label_wrong == pytest.approx(0.1 if sc.verified[i] == sc.noisy[i] else 0.9)
        else:
            assert r.p_label_wrong == pytest.approx(1 - sc.posterior[i, sc.noisy[i]], abs=1e-6)
    # chunk size changes nothing
    small = [r for ch in campaign_export_chunks(engine, sc.campaign_id, chunk_size=37) for r in ch]
    assert small == rows
    cleaned = cleaned_labels(engine, sc.campaign_id)
    assert cleaned.threshold == threshold
    assert cleaned.labels.tolist() == want_labels.tolist()


def test_three_formats_carry_the_same_rows(engine: Engine, tmp_path: Path) -> None:
    sc = build_campaign(engine, tmp_path, n_items=120, seed=5, with_model=False)
    rows = list(campaign_export_rows(engine, sc.campaign_id))
    want = [(r.item_id, r.cleaned_label, r.source, r.n_workers) for r in rows]
    for fmt in ("csv", "jsonl", "parquet"):
        path = tmp_path / f"out.{fmt}"
        assert write_export(campaign_export_rows(engine, sc.campaign_id), path) == 120
        if fmt == "csv":
            back = list(csv.DictReader(path.open(encoding="utf-8")))
            got = [
                (r["item_id"], r["cleaned_label"], r["source"], int(r["n_workers"])) for r in back
            ]
        elif fmt == "jsonl":
            back = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
            got = [(r["item_id"], r["cleaned_label"], r["source"], r["n_workers"]) for r in back]
        else:
            d = pq.read_table(path).to_pydict()
            assert tuple(d) == EXPORT_COLUMNS
            got = list(
                zip(d["item_id"], d["cleaned_label"], d["source"], d["n_workers"], strict=True)
            )
        assert got == want, fmt
    # without a model nothing is relabelled by it and confidence of original labels is 1
    assert {r.source for r in rows} <= {"original", "crowd", "propagated"}
    assert all(r.confidence == 1.0 for r in rows if r.source == "original")
    # ... and p_label_wrong is missing (null / empty), not made up, except where the crowd spoke
    assert all(r.p_label_wrong is None for r in rows if r.source != "crowd")
    assert all(r.p_label_wrong is not None for r in rows if r.source == "crowd")
    back_csv = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    back_json = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    back_pq = pq.read_table(tmp_path / "out.parquet").to_pydict()["p_label_wrong"]
    for r, c, j, q in zip(rows, back_csv, back_json, back_pq, strict=True):
        if r.p_label_wrong is None:
            assert c["p_label_wrong"] == "" and j["p_label_wrong"] is None and q is None
        else:
            assert float(c["p_label_wrong"]) == j["p_label_wrong"] == q == r.p_label_wrong


def _peak_while_exporting(engine: Engine, campaign_id, fmt: str) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(peak traced bytes, bytes produced, rows) while streaming an export, discarding bytes."""
    n_bytes, n_rows = 0, 0

    def counted():  # type: ignore[no-untyped-def]
        nonlocal n_rows
        for chunk in campaign_export_chunks(engine, campaign_id):
            n_rows += len(chunk)
            yield chunk

    # pyarrow initialises itself on the first Parquet write (~25 MiB, once per process):
    # warm the encoder up so the bound measures the export, not that.
    b"".join(iter_export_bytes([[ExportRow("w", "a", "a", "original", 1.0, "{}", 0, -1, -1)]], fmt))  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        for block in iter_export_bytes(counted(), fmt):  # type: ignore[arg-type]
            n_bytes += len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, n_bytes, n_rows


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_large_export_stays_in_bounded_memory(
    sqlite_engine: Engine, tmp_path: Path, fmt: str
) -> None:
    n = 200_000
    sc = build_campaign(
        sqlite_engine,
        tmp_path,
        n_items=n,
        n_validation=300,
        n_verified=700,
        n_propagated=40_000,
        seed=11,
    )
    started = time.perf_counter()
    peak, n_bytes, n_rows = _peak_while_exporting(sqlite_engine, sc.campaign_id, fmt)
    seconds = time.perf_counter() - started
    # The whole export is ~10 MB of CSV (~3 MB Parquet) and 200k row objects (well over
    # 100 MB as Python objects); one 10,000-row chunk and its encoding stay far below 32 MiB.
    assert n_rows == n and n_bytes > 2_000_000
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB while exporting {fmt}"
    print(
        f"{fmt}: {n} rows, {n_bytes / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB, {seconds:.1f} s"
    )


def test_small_export_memory_is_per_chunk(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Doubling the items does not double the peak: memory follows the chunk, not the data."""
    peaks = []
    for n in (2_000, 4_000):
        sc = build_campaign(sqlite_engine, tmp_path, n_items=n, n_propagated=500, seed=n)
        ctx = label_context(sqlite_engine, sc.campaign_id)
        assert ctx.n_items == n
        tracemalloc.start()
        try:
            rows = 0
            for chunk in campaign_export_chunks(sqlite_engine, sc.campaign_id, chunk_size=500):
                rows += len(chunk)
                b"".join(iter_export_bytes([chunk], "csv"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert rows == n
        peaks.append(peak)
    assert peaks[1] < 1.5 * peaks[0], peaks
    text = b"".join(
        iter_export_bytes(campaign_export_chunks(sqlite_engine, sc.campaign_id), "csv")
    ).decode()
    assert len(list(csv.reader(io.StringIO(text)))) == 4_001
