"""The benchmark protocol: datasets, noise, budgets, one cell at a time, rows on disk.

A **cell** is (dataset, noise, budget, seed). For each cell:

1. **Split.** A fixed 20 % of the dataset, stratified by gold class with a seed that does not
   depend on the cell (:data:`TEST_SEED`), is the clean *held-out* split. It is never shown to
   any method, never noised, never sent to the crowd; it only scores the downstream classifier.
   The other 80 % is the *pool* every method cleans (``--max-items`` subsamples the pool,
   stratified, for quick runs and tests).
2. **Noise.** ``inject_noise`` on the pool with ``default_rng(seed)`` (random or structural).
3. **Budget.** ``budget`` is a share of the pool's items: ``b = round(budget · n)`` items at 3
   answers each, i.e. ``b · 3 · ($0.05 + 20 % fee)`` dollars, the same for every method.
4. **Crowd.** One :class:`~orchestrator.bench.crowd.BenchCrowd` (simulator + boto3) per cell;
   every method group gets its own :class:`~orchestrator.bench.crowd.CrowdAccess` with the full
   budget. The stored dataset and the method inputs carry no gold.
5. **Metrics** against the pool's gold over all pool items: label accuracy, macro AUC,
   noisy-hit rate of the inspected items, spend (ledger), seconds per stage, and downstream
   accuracy of ``StandardScaler + LogisticRegression(C=0.1)`` trained on the cleaned pool
   labels and scored on the held-out split.

Rows are appended to ``<rows_dir>/<dataset>.jsonl`` after each method group, so an interrupted
run resumes where it stopped: rows already present (same dataset, noise, budget, method, seed,
items) are skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from orchestrator.bench.metrics import (
    budget_items,
    budget_usd,
    label_accuracy,
    macro_auc,
    noisy_hit_rate,
    one_hot,
)
from orchestrator.data.dataset import LabeledData

if TYPE_CHECKING:
    from orchestrator.bench.methods import MethodGroup, MethodInput
    from orchestrator.bench.shared import SharedWork

TEST_SEED = 20_240_607
TEST_SHARE = 0.2
ANSWERS_PER_ITEM = 3
DATASETS: dict[str, tuple[str, str, str]] = {
    # bench name → (built-in dataset, representation, worker pool)
    "digits": ("digits", "bow", "beta"),
    "mnist5k": ("mnist5k", "bow", "beta"),
    "movie-snippets": ("movie-snippets", "bow", "ratings"),
    "movie-snippets-minilm": ("movie-snippets", "minilm", "ratings"),
}
ROW_KEYS = (
    "dataset",
    "noise",
    "budget",
    "method",
    "seed",
    "accuracy",
    "auc",
    "noisy_hit_rate",
    "spend_usd",
    "seconds",
)


@dataclass(frozen=True)
class Noise:
    """``kind:rate``, e.g. ``random:0.2`` or ``structural:0.2``."""

    kind: str
    rate: float

    @classmethod
    def parse(cls, text: str) -> Noise:
        from orchestrator.data.noise import NOISE_KINDS

        kind, sep, rate = text.partition(":")
        try:
            value = float(rate) if sep else float("nan")
        except ValueError:
            value = float("nan")
        if kind not in NOISE_KINDS or not 0 <= value < 1:
            raise ValueError(
                f"bad noise {text!r}: use KIND:RATE with KIND in {NOISE_KINDS}, 0 <= RATE < 1"
            )
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.rate:g}"


@dataclass(frozen=True)
class BenchOptions:
    """How to run cells (see ``crowdclean bench --help``)."""

    rows_dir: Path = Path("benchmarks/bench")
    workdir: Path = Path("crowdclean-bench")
    cache_dir: Path | None = None
    max_items: int | None = None
    threads: int = 1
    rounds: int = 2
    beta_grid: tuple[float, ...] | None = None
    search_epochs: int | None = None
    time_factor: float = 0.0002
    resume: bool = True
    command: str = ""
    log: Callable[[str], None] = field(default=lambda _msg: None, compare=False)


@dataclass(frozen=True)
class Split:
    """A dataset cut into the pool the methods clean and the clean held-out split."""

    pool: LabeledData
    test_x: npt.NDArray[np.float32]
    test_y: npt.NDArray[np.int64]
    ratings: list[npt.NDArray[np.int64]] | None


def _subset(data: LabeledData, idx: npt.NDArray[np.int64]) -> LabeledData:
    extras = dict(data.extras)
    if "ratings" in extras:
        ratings = extras["ratings"]
        assert isinstance(ratings, list)
        extras["ratings"] = [ratings[int(i)] for i in idx]
    return replace(
        data,
        ids=data.ids[idx],
        features=np.ascontiguousarray(data.features[idx]),
        noisy_labels=data.noisy_labels[idx],
        gold=data.gold[idx],
        validation=data.validation[idx],
        texts=None if data.texts is None else tuple(data.texts[int(i)] for i in idx),
        image_paths=None
        if data.image_paths is None
        else tuple(data.image_paths[int(i)] for i in idx),
        display=None
        if data.display is None
        else replace(data.display, values=tuple(data.display.values[int(i)] for i in idx)),
        extras=extras,
    )


def _stratified(
    y: npt.NDArray[np.int64], n_take: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """``n_take`` rows drawn without replacement, proportionally per class (sorted)."""
    from sklearn.model_selection import train_test_split

    if n_take >= len(y):
        return np.arange(len(y), dtype=np.int64)
    idx = np.arange(len(y))
    taken, _ = train_test_split(
        idx, train_size=n_take, stratify=y, random_state=int(rng.integers(2**31 - 1))
    )
    return np.sort(np.asarray(taken, dtype=np.int64))


_SPLITS: dict[tuple[str, int | None], Split] = {}


def load_split(
    dataset: str, *, max_items: int | None = None, cache_dir: Path | None = None
) -> Split:
    """The pool and held-out split of a bench dataset (cached in memory per process)."""
    from orchestrator.data.builtin import load_builtin

    key = (dataset, max_items)
    if key in _SPLITS:
        return _SPLITS[key]
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    name, representation, _pool = DATASETS[dataset]
    data = load_builtin(name, cache_dir=cache_dir, representation=representation)  # type: ignore[arg-type]
    rng = np.random.default_rng(TEST_SEED)
    n_test = round(TEST_SHARE * data.n_items)
    test = np.setdiff1d(np.arange(data.n_items), _stratified(data.gold, data.n_items - n_test, rng))
    pool_idx = np.setdiff1d(np.arange(data.n_items), test)
    if max_items is not None and max_items < len(pool_idx):
        pool_idx = pool_idx[_stratified(data.gold[pool_idx], max_items, rng)]
    pool = _subset(data, pool_idx)
    if dataset != name:
        pool = replace(pool, name=dataset)
    ratings = pool.extras.get("ratings")
    split = Split(
        pool=pool,
        test_x=np.ascontiguousarray(data.features[test]),
        test_y=data.gold[test].copy(),
        ratings=ratings if isinstance(ratings, list) else None,
    )
    _SPLITS[key] = split
    return split


def downstream_accuracy(
    pool: LabeledData,
    labels: npt.NDArray[np.int64],
    test_x: npt.NDArray[np.float32],
    test_y: npt.NDArray[np.int64],
    *,
    seed: int,
) -> float:
    """Held-out accuracy of LR trained on ``labels`` of the pool (a constant if one class)."""
    from orchestrator.bench.shared import make_classifier

    if len(np.unique(labels)) < 2:
        return float((test_y == labels[0]).mean())
    clf = make_classifier("lr", seed=seed, feature_kind=pool.feature_kind)
    clf.fit(pool.features, labels)
    return float((clf.predict(test_x) == test_y).mean())


def code_version() -> str:
    """``git`` HEAD of the working tree, with ``+dirty:<files>`` for uncommitted source edits.

    Rows record it because the code under test may change between runs of a long benchmark.
    """
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "orchestrator", "aggregation"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    files = sorted(line[3:] for line in dirty if line.startswith(" M") or line.startswith("M"))
    return head + (f"+dirty:{','.join(files)}" if files else "")


_CODE_VERSION: list[str] = []


def _cached_code_version() -> str:
    if not _CODE_VERSION:
        _CODE_VERSION.append(code_version())
    return _CODE_VERSION[0]


# --------------------------------------------------------------------------- rows on disk


def rows_path(rows_dir: Path, dataset: str) -> Path:
    return Path(rows_dir) / f"{dataset}.jsonl"


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["dataset"],
        row["noise"],
        round(float(row["budget"]), 6),
        row["method"],
        int(row["seed"]),
        row.get("n_items"),
    )


def read_rows(rows_dir: Path, datasets: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every row under ``rows_dir`` (one JSON object per line), optionally for some datasets."""
    rows: list[dict[str, Any]] = []
    files = (
        sorted(Path(rows_dir).glob("*.jsonl"))
        if datasets is None
        else [rows_path(rows_dir, d) for d in datasets]
    )
    for f in files:
        if not f.exists():
            continue
        for lineno, line in enumerate(f.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{f}:{lineno}: not a JSON row ({exc})") from exc
            missing = [k for k in ROW_KEYS if not isinstance(row, dict) or k not in row]
            if missing:
                raise ValueError(f"{f}:{lineno}: not a benchmark row (missing {missing})")
            rows.append(row)
    return rows


def append_rows(rows_dir: Path, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        path = rows_path(rows_dir, row["dataset"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- one cell


def _score_row(
    *,
    base: dict[str, Any],
    method: str,
    out: Any,
    split: Split,
    noisy: LabeledData,
    group_seconds: float,
    spend: Decimal,
    n_answers: int,
    seed: int,
) -> dict[str, Any]:
    gold = noisy.gold
    k = noisy.n_classes
    extra = dict(out.extra or {})
    # Precision against gold of the labels each source changed (scoring only).
    for source, rows in (extra.pop("_rows_by_source", None) or {}).items():
        r = np.asarray(rows, dtype=np.int64)
        extra[f"precision_{source}"] = (
            round(float((out.labels[r] == gold[r]).mean()), 4) if len(r) else None
        )
    scores = out.scores if out.scores is not None else one_hot(out.labels, k)
    t0 = time.perf_counter()
    down = downstream_accuracy(noisy, out.labels, split.test_x, split.test_y, seed=seed)
    hit = noisy_hit_rate(out.inspected, noisy.noisy_labels, gold)
    stages = dict(out.stages)
    # Shared cached work is counted at its measured cost even when it came from the cache.
    shared = sum(v for s, v in stages.items() if s in ("model", "pred_probs"))
    return {
        **base,
        "method": method,
        "accuracy": round(label_accuracy(out.labels, gold), 5),
        "auc": round(macro_auc(scores, gold), 5),
        "noisy_hit_rate": None if hit is None else round(hit, 5),
        "spend_usd": float(spend),
        "seconds": round(group_seconds + shared, 3),
        "stages": stages,
        "downstream_accuracy": round(down, 5),
        "downstream_seconds": round(time.perf_counter() - t0, 3),
        "n_inspected": len(np.unique(out.inspected)),
        "n_answers": n_answers,
        "n_gold_given": 0,
        "gold_used_for_selection": method == "oracle",
        **({"extra": extra} if extra else {}),
    }


def _model_source_hash() -> str:
    """8 hex digits of SHA-1 over the DPM's source files (the cached fits depend on them)."""
    import hashlib

    h = hashlib.sha1(usedforsecurity=False)
    for f in sorted((Path(__file__).resolve().parents[1] / "model").glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:8]


def noisy_split(
    dataset: str, noise: Noise, seed: int, options: BenchOptions
) -> tuple[Split, LabeledData]:
    """A cell's split, and its pool with ``noise`` injected (seeded by ``seed``)."""
    from orchestrator.data.noise import inject_noise

    split = load_split(dataset, max_items=options.max_items, cache_dir=options.cache_dir)
    noisy = inject_noise(
        split.pool,
        rate=noise.rate,
        kind=noise.kind,  # type: ignore[arg-type]
        rng=np.random.default_rng(seed),
    )
    return split, noisy


@dataclass(frozen=True)
class _Cell:
    """One cell: a dataset's split, its pool with injected noise, and what the budget buys
    (``b_items`` items at three answers each, ``b_usd`` dollars)."""

    dataset: str
    noise: Noise
    budget: float
    seed: int
    split: Split
    noisy: LabeledData
    b_items: int
    b_usd: Decimal

    @classmethod
    def load(
        cls, dataset: str, noise: Noise, budget: float, seed: int, options: BenchOptions
    ) -> _Cell:
        split, noisy = noisy_split(dataset, noise, seed, options)
        b_items = budget_items(budget, noisy.n_items)
        b_usd = budget_usd(b_items, ANSWERS_PER_ITEM, Decimal("0.05"))
        return cls(dataset, noise, budget, seed, split, noisy, b_items, b_usd)

    def __str__(self) -> str:
        return f"{self.dataset} {self.noise} b={self.budget:g} seed={self.seed}"

    def base(self, options: BenchOptions) -> dict[str, Any]:
        """The columns every row of the cell shares (its key, size and budget, how the run
        was made)."""
        return {
            "dataset": self.dataset,
            "noise": str(self.noise),
            "budget": self.budget,
            "seed": self.seed,
            "n_items": self.noisy.n_items,
            "max_items": options.max_items,
            "n_test": len(self.split.test_y),
            "budget_items": self.b_items,
            "budget_usd": float(self.b_usd),
            "accuracy_noisy": round(label_accuracy(self.noisy.noisy_labels, self.noisy.gold), 5),
            "threads": options.threads,
            "command": options.command,
            "code": _cached_code_version(),
        }

    def shared_work(self, public: LabeledData, options: BenchOptions) -> SharedWork:
        """The cached work its methods share (DPM fits, out-of-fold probabilities)."""
        from orchestrator.bench.shared import SharedWork

        noise, n = self.noise, public.n_items
        # The model's source is part of the key: a changed DPM must not be served from the
        # cache.
        key = (
            f"{self.dataset}-n{n}-{noise.kind}-{noise.rate:g}-s{self.seed}-m{_model_source_hash()}"
        )
        return SharedWork(
            public,
            key,
            cache_dir=options.cache_dir / "bench" if options.cache_dir else None,
            seed=self.seed,
            threads=options.threads,
        )

    def crowd_dir(self, options: BenchOptions) -> Path:
        noise = self.noise
        return options.workdir / (
            f"{self.dataset}-{noise.kind}-{noise.rate:g}-b{self.budget:g}-s{self.seed}"
        )


def _group_rows(
    cell: _Cell, group: MethodGroup, inp: MethodInput, base: dict[str, Any], variants: list[str]
) -> list[dict[str, Any]]:
    """Run one method group and score the ``variants`` it reports. Its seconds leave out the
    shared work it computed, which ``_score_row`` adds back at its recorded cost, cached or
    not."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    computed0 = inp.shared.computed_seconds
    outputs = group.run(inp, gold=cell.noisy.gold) if group.uses_gold else group.run(inp)
    seconds = time.perf_counter() - t0 - (inp.shared.computed_seconds - computed0)
    return [
        _score_row(
            base=base,
            method=variant,
            out=outputs[variant],
            split=cell.split,
            noisy=cell.noisy,
            group_seconds=seconds,
            spend=inp.crowd.spent_usd,
            n_answers=inp.crowd.n_answers,
            seed=cell.seed,
        )
        | {"loadavg_1m": round(load, 2)}
        for variant in variants
    ]


def run_cell(
    dataset: str,
    noise: Noise,
    budget: float,
    seed: int,
    methods: list[str],
    options: BenchOptions,
) -> list[dict[str, Any]]:
    """Run the missing ``methods`` on one cell; returns all its rows for ``methods``."""
    from orchestrator.bench.crowd import BenchCrowd, CrowdAccess, without_gold
    from orchestrator.bench.methods import MethodInput, MethodOptions, groups_for

    cell = _Cell.load(dataset, noise, budget, seed, options)
    base = cell.base(options)
    existing = {row_key(r): r for r in read_rows(options.rows_dir, [dataset]) if options.resume}

    def key(method: str) -> tuple[Any, ...]:
        return row_key({**base, "method": method})

    todo = [g for g in groups_for(methods) if any(key(v) not in existing for v in g.variants)]
    rows = [existing[key(m)] for m in methods if key(m) in existing]
    if not todo:
        return rows
    public = without_gold(cell.noisy)
    shared = cell.shared_work(public, options)
    mopts = MethodOptions(
        rounds=options.rounds,
        beta_grid=options.beta_grid,
        search_epochs=options.search_epochs,
        threads=options.threads,
    )
    with BenchCrowd(
        cell.noisy,
        cell.crowd_dir(options),
        pool=DATASETS[dataset][2],
        ratings=cell.split.ratings,
        seed=seed,
        time_factor=options.time_factor,
    ) as crowd:
        for group in todo:
            inp = MethodInput(
                data=public,
                crowd=CrowdAccess(crowd, cell.b_usd, group.name),
                shared=shared,
                budget_items=cell.b_items,
                budget_usd=cell.b_usd,
                seed=seed,
                options=mopts,
            )
            options.log(f"{cell}: {group.name}")
            wanted = [v for v in group.variants if v in methods and key(v) not in existing]
            new = _group_rows(cell, group, inp, base, wanted)
            append_rows(options.rows_dir, new)
            for r in new:
                existing[row_key(r)] = r
                options.log(
                    f"  {r['method']}: accuracy {r['accuracy']:.4f} auc {r['auc']:.4f} "
                    f"spend ${r['spend_usd']:.2f} {r['seconds']:.1f}s"
                )
    return [existing[key(m)] for m in methods if key(m) in existing]


def run_bench(
    datasets: list[str],
    noises: list[Noise],
    budgets: list[float],
    seeds: list[int],
    methods: list[str],
    options: BenchOptions,
) -> list[dict[str, Any]]:
    """Every cell of the grid, in the order given (dataset slowest); returns the rows."""
    from orchestrator.bench.methods import groups_for

    groups_for(methods)  # fail on unknown names before any work
    for d in datasets:
        if d not in DATASETS:
            raise ValueError(f"unknown dataset {d!r}; choose from {', '.join(DATASETS)}")
    for b in budgets:
        budget_items(b, 100)  # validates the fraction
    rows: list[dict[str, Any]] = []
    for d in datasets:
        for noise in noises:
            for budget in budgets:
                for seed in seeds:
                    rows.extend(run_cell(d, noise, budget, seed, methods, options))
    return rows


def derive_campaign_variants(
    dataset: str,
    noise: Noise,
    budget: float,
    seed: int,
    variants: list[str],
    options: BenchOptions,
) -> list[dict[str, Any]]:
    """Score ``variants`` of the crowdclean group from the cell's stored campaign, no re-run.

    For rows added to the registry after a cell ran (e.g. ``crowdclean_argmax``): the cell's
    database under ``options.workdir`` still holds the finished ``crowdclean`` campaign, whose
    stored labels and final posterior give every variant. Spend, answers and seconds are
    copied from that campaign's ``crowdclean`` row; the row's ``command`` says it was derived.
    """
    from sqlmodel import Session, select

    from orchestrator.bench.crowd import without_gold
    from orchestrator.bench.methods import campaign_outputs
    from orchestrator.db.engine import make_engine
    from orchestrator.db.models import Campaign

    split, noisy = noisy_split(dataset, noise, seed, options)
    existing = {row_key(r): r for r in read_rows(options.rows_dir, [dataset])}
    probe = {"dataset": dataset, "noise": str(noise), "budget": budget, "seed": seed}
    source = existing.get(row_key({**probe, "method": "crowdclean", "n_items": noisy.n_items}))
    if source is None:
        raise LookupError(f"no crowdclean row for {probe}; run the cell first")
    cell_dir = options.workdir / f"{dataset}-{noise.kind}-{noise.rate:g}-b{budget:g}-s{seed}"
    engine = make_engine(f"sqlite:///{(cell_dir / 'bench.db').resolve()}")
    try:
        with Session(engine) as s:
            campaign = s.exec(select(Campaign).where(Campaign.name == "crowdclean")).first()
        if campaign is None:
            raise LookupError(f"no stored crowdclean campaign under {cell_dir}")
        outputs = campaign_outputs(
            engine, without_gold(noisy), campaign.id, "crowdclean", dict(source["stages"])
        )
    finally:
        engine.dispose()
    rows = []
    for v in variants:
        if row_key({**source, "method": v}) in existing:
            continue
        row = _score_row(
            base={k: source[k] for k in source if k in _BASE_KEYS},
            method=v,
            out=outputs[v],
            split=split,
            noisy=noisy,
            group_seconds=float(source["seconds"]),
            spend=Decimal(str(source["spend_usd"])),
            n_answers=int(source["n_answers"]),
            seed=seed,
        )
        row["command"] = (
            f"{source.get('command', '')}  [{v} derived from the stored campaign by "
            "orchestrator.bench.protocol.derive_campaign_variants]"
        )
        rows.append(row)
    append_rows(options.rows_dir, rows)
    return rows


_BASE_KEYS = (
    "dataset",
    "noise",
    "budget",
    "seed",
    "n_items",
    "max_items",
    "n_test",
    "budget_items",
    "budget_usd",
    "accuracy_noisy",
    "threads",
    "command",
    "loadavg_1m",
)
