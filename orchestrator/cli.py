"""The ``crowdclean`` command line (typer).

Commands: ``demo``; ``db upgrade``; ``dataset import|builtin|list``;
``campaign create|start|pause|resume|run|status|estimate|cancel|reconcile``; ``export``;
``clean``; ``simulator serve``. Every command reads :class:`orchestrator.settings.Settings`
(env prefix ``CROWDCLEAN_``) when it runs, never at import time.
"""

from __future__ import annotations

import json
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from orchestrator.campaigns.lifecycle import Verb
    from orchestrator.data.dataset import LabeledData
    from orchestrator.data.importer import ColumnMapping
    from orchestrator.model.config import ModelConfig

app = typer.Typer(
    help="crowdclean: debug noisy training labels with a deep generative model and a crowd.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
dataset_app = typer.Typer(help="Import and list datasets.", no_args_is_help=True)
campaign_app = typer.Typer(help="Create and drive campaigns.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dataset_app, name="dataset")
app.add_typer(campaign_app, name="campaign")

console = Console(stderr=True)


# Typed as a UUID so that typer refuses a malformed id with a usage error naming the argument
# (exit 2), before any command runs, instead of a ValueError traceback.
CampaignIdArg = Annotated[uuid.UUID, typer.Argument(help="Campaign id (a UUID).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _engine():  # type: ignore[no-untyped-def]
    from orchestrator.db.engine import get_engine
    from orchestrator.db.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    return engine


# ----------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the Alembic migrations to the configured database (idempotent)."""
    from orchestrator.db.engine import get_engine
    from orchestrator.db.migrate import current_revision, upgrade
    from orchestrator.settings import get_settings

    engine = get_engine()
    upgrade(engine, revision)
    url = get_settings().database_url
    console.print(f"database {url} at revision {current_revision(engine)}")


# ----------------------------------------------------------------------------- dataset


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


# The column mapping of a data file, shared by `dataset import` and `clean FILE`.
IdColOpt = Annotated[str, typer.Option(help="Column with unique item ids.")]
LabelColOpt = Annotated[str, typer.Option(help="Column with the noisy label.")]
TextColOpt = Annotated[str | None, typer.Option(help="Column with item text.")]
FeatureColsOpt = Annotated[
    str | None, typer.Option(help="Comma-separated numeric feature columns.")
]
VectorColOpt = Annotated[
    str | None, typer.Option(help="Column holding a list of numbers per item.")
]
ImageColOpt = Annotated[
    str | None,
    typer.Option(
        help="Column with images: https URLs, s3://bucket/key, or file paths (relative to FILE)."
        " Their 28x28 grey pixels are the features unless other feature columns are mapped."
    ),
]
DisplayColOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--display-col",
        help="Column shown to workers as a table row (repeat for several, in order). Default "
        "for items without text or image: the file's other columns.",
    ),
]
ClassesOpt = Annotated[str | None, typer.Option(help="Comma-separated declared class set.")]
KindOpt = Annotated[
    str | None, typer.Option(help="continuous | pixels | counts (default: inferred).")
]


def _mapping(
    *,
    id_col: str,
    label_col: str,
    text_col: str | None,
    feature_cols: str | None,
    vector_col: str | None,
    image_col: str | None,
    classes: str | None,
    kind: str | None,
    gold_col: str | None = None,
    validation_col: str | None = None,
    display_cols: list[str] | None = None,
) -> ColumnMapping:
    """The ColumnMapping of the options, or a usage error (exit 2) naming the bad one."""
    from orchestrator.data.importer import ColumnMapping
    from orchestrator.db.models import FeatureKind

    try:
        return ColumnMapping(
            id_column=id_col,
            label_column=label_col,
            text_column=text_col,
            feature_columns=_split(feature_cols) or (),
            vector_column=vector_col,
            image_column=image_col,
            display_columns=tuple(display_cols or ()),
            gold_column=gold_col,
            validation_column=validation_col,
            classes=_split(classes),
            feature_kind=FeatureKind(kind) if kind else None,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc


@dataset_app.command("import")
def dataset_import(
    file: Path,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file stem).")] = None,
    id_col: IdColOpt = "id",
    label_col: LabelColOpt = "label",
    text_col: TextColOpt = None,
    feature_cols: FeatureColsOpt = None,
    vector_col: VectorColOpt = None,
    image_col: ImageColOpt = None,
    display_col: DisplayColOpt = None,
    gold_col: Annotated[str | None, typer.Option(help="Column with known true labels.")] = None,
    validation_col: Annotated[
        str | None, typer.Option(help="Column flagging validation items (true/false).")
    ] = None,
    classes: ClassesOpt = None,
    kind: KindOpt = None,
) -> None:
    """Import FILE (CSV, JSONL or Parquet). Bad input is refused whole, naming row and column.

    Local image files are uploaded to CROWDCLEAN_IMAGES__BUCKET_URL when it is set.
    """
    from orchestrator.data.errors import DatasetError
    from orchestrator.data.image_upload import image_import_options, image_store_from_settings
    from orchestrator.data.importer import read_dataset_file
    from orchestrator.data.store import save_dataset
    from orchestrator.settings import get_settings
    from orchestrator.storage.artifacts import artifact_root
    from orchestrator.storage.errors import StorageError

    mapping = _mapping(
        id_col=id_col,
        label_col=label_col,
        text_col=text_col,
        feature_cols=feature_cols,
        vector_col=vector_col,
        image_col=image_col,
        classes=classes,
        kind=kind,
        gold_col=gold_col,
        validation_col=validation_col,
        display_cols=display_col,
    )
    settings = get_settings()
    try:
        images = image_import_options(settings, local_files=True)
        data = read_dataset_file(file, mapping, name=name, images=images)
        ds = save_dataset(
            _engine(),
            data,
            name=name or file.stem,
            source=str(file),
            data_dir=artifact_root(),
            image_store=image_store_from_settings(settings, source=str(file))
            if data.image_paths is not None
            else None,
        )
    except (DatasetError, StorageError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(
        json.dumps(
            {
                "id": str(ds.id),
                "name": ds.name,
                "items": ds.n_items,
                "classes": ds.classes,
                "feature_kind": ds.feature_kind.value,
                "features": ds.n_features,
            }
        )
    )


@dataset_app.command("builtin")
def dataset_builtin(
    dataset: Annotated[str, typer.Argument(help="digits | mnist5k | movie-snippets")],
    name: Annotated[str | None, typer.Option(help="Name to store it under.")] = None,
    noise: Annotated[float, typer.Option(help="Share of labels to corrupt (0 ≤ r < 1).")] = 0.0,
    noise_kind: Annotated[str, typer.Option(help="random | structural")] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
) -> None:
    """Fetch a built-in real dataset (into the cache), optionally corrupt it, and store it."""
    import numpy as np

    from orchestrator.data.builtin import load_builtin
    from orchestrator.data.errors import DatasetError
    from orchestrator.data.noise import NoiseKind, inject_noise
    from orchestrator.data.store import save_dataset
    from orchestrator.storage.artifacts import artifact_root
    from orchestrator.storage.errors import StorageError

    try:
        data = load_builtin(dataset)
        if noise > 0:
            data = inject_noise(
                data,
                rate=noise,
                kind=cast(NoiseKind, noise_kind),  # checked by inject_noise
                rng=np.random.default_rng(seed),
            )
        label = name or (dataset if noise == 0 else f"{dataset}-{noise_kind}{noise:g}-s{seed}")
        ds = save_dataset(
            _engine(),
            data,
            name=label,
            source=f"builtin:{dataset}",
            data_dir=artifact_root(),
        )
    except (DatasetError, StorageError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(
        json.dumps(
            {
                "id": str(ds.id),
                "name": ds.name,
                "items": ds.n_items,
                "label_accuracy": data.label_accuracy(),
            }
        )
    )


@dataset_app.command("list")
def dataset_list() -> None:
    """List imported datasets."""
    from sqlmodel import Session, select

    from orchestrator.db.models import Dataset

    table = Table("id", "name", "items", "classes", "kind", "source")
    with Session(_engine()) as s:
        for d in s.exec(select(Dataset)).all():
            table.add_row(
                str(d.id),
                d.name,
                str(d.n_items),
                str(len(d.classes)),
                d.feature_kind.value,
                d.source,
            )
    Console().print(table)


# ----------------------------------------------------------------------------- campaign


@campaign_app.command("create")
def campaign_create(
    dataset: Annotated[str, typer.Option(help="Dataset id or name.")],
    budget: Annotated[str, typer.Option(help="Hard spend cap in USD, fees included.")],
    name: Annotated[str, typer.Option(help="Campaign name.")] = "campaign",
    config: Annotated[
        Path | None, typer.Option(help="JSON file with CampaignConfig fields.")
    ] = None,
    requester: Annotated[str, typer.Option(help="Owner of the campaign.")] = "operator",
) -> None:
    """Create a campaign in draft (nothing is published until `campaign start`)."""
    from pydantic import ValidationError

    from orchestrator.campaigns.config import CampaignConfig
    from orchestrator.campaigns.lifecycle import create_campaign
    from orchestrator.crowd.money import MoneyError, validate_usd
    from orchestrator.data.errors import DatasetError
    from orchestrator.storage.artifacts import artifact_root
    from orchestrator.storage.errors import StorageError

    try:
        raw = json.loads(config.read_text(encoding="utf-8")) if config else {}
        cfg = CampaignConfig.model_validate(raw)
        campaign = create_campaign(
            _engine(),
            dataset,
            name=name,
            budget_usd=validate_usd(budget, what="--budget", maximum=Decimal("1000000")),
            config=cfg,
            data_dir=artifact_root(),
            requester=requester,
        )
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid campaign config {config}: {fields}") from None
    except (MoneyError, DatasetError, StorageError, json.JSONDecodeError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(json.dumps({"id": str(campaign.id), "status": campaign.status.value}))


def _apply(campaign_id: uuid.UUID, verb: Verb) -> None:
    from orchestrator.campaigns.lifecycle import CampaignStateError, apply_verb

    try:
        c = apply_verb(_engine(), campaign_id, verb)
    except (CampaignStateError, LookupError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps({"id": str(c.id), "status": c.status.value}))


# The verbs' rules are orchestrator.campaigns.lifecycle.VERBS, shared with the API; the help
# texts say them in words so that `crowdclean --help` does not import the database layer.
@campaign_app.command("start")
def campaign_start(campaign_id: CampaignIdArg) -> None:
    """Start a draft campaign (draft → running); a scheduler or `campaign run` then drives it.

    A paused or failed campaign is not started again: use `campaign resume`.
    """
    _apply(campaign_id, "start")


@campaign_app.command("pause")
def campaign_pause(campaign_id: CampaignIdArg) -> None:
    """Pause a running campaign after its current step (running → paused)."""
    _apply(campaign_id, "pause")


@campaign_app.command("resume")
def campaign_resume(campaign_id: CampaignIdArg) -> None:
    """Resume a paused or failed campaign (paused | failed → running)."""
    _apply(campaign_id, "resume")


@campaign_app.command("status")
def campaign_status(campaign_id: CampaignIdArg) -> None:
    """Print a campaign's status document as JSON: the same document as the API's
    ``GET /v1/campaigns/{id}/status`` (state, round, money, label counts, accuracy, workers)."""
    from orchestrator.campaigns.accuracy import estimate_label_accuracy
    from orchestrator.campaigns.status import accuracy_section, status_document

    engine = _engine()
    try:
        doc = status_document(
            engine,
            campaign_id,
            accuracy_of=lambda cid, _key: accuracy_section(estimate_label_accuracy(engine, cid)),
        )
        typer.echo(json.dumps(doc))
    except (LookupError, ValueError) as exc:
        raise _fail(str(exc)) from exc


@campaign_app.command("cancel")
def campaign_cancel(
    campaign_id: CampaignIdArg,
    approve_submitted: Annotated[
        bool, typer.Option(help="Pay for work already submitted before disposing HITs.")
    ] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Cancel a campaign: no further steps, then expire and dispose of its outstanding HITs.

    The state changes first and the clean-up runs under the campaign's scheduler lease, so it
    never races a running scheduler's publish; when a scheduler holds the campaign, it does
    the clean-up after its step (exit code 3: run cancel again later to see it done).
    """
    from orchestrator.campaigns.lifecycle import CampaignStateError
    from orchestrator.crowd.ledger import campaign_spend
    from orchestrator.crowd.mturk import MTurkPlatform
    from orchestrator.scheduler.leased_cancel import cancel_campaign_safely
    from orchestrator.settings import get_settings

    if not yes:
        typer.confirm(f"Cancel campaign {campaign_id} and all its HITs?", abort=True)
    settings = get_settings()
    engine = _engine()
    try:
        out = cancel_campaign_safely(
            engine,
            campaign_id,
            lambda: MTurkPlatform.from_settings(settings.mturk),
            lease_ttl_s=settings.scheduler.lease_ttl_s,
            approve_submitted=approve_submitted,
            owner_prefix="cli",
        )
    except (LookupError, ValueError, CampaignStateError) as exc:
        raise _fail(str(exc)) from exc
    spend = campaign_spend(engine, out.campaign.id)
    report = out.cleanup
    if out.deferred:
        typer.echo(f"cancelled; a scheduler holds the campaign and disposes {out.open_hits} HITs")
    elif report is not None:
        typer.echo(
            f"cancelled; expired {report.expired}, disposed {report.disposed}, approved "
            f"{report.approved}, abandoned intents {report.abandoned_intents}, released "
            f"{report.released_usd} USD"
        )
        for hit_id, why in report.still_open.items():
            typer.echo(f"still open: {hit_id}: {why}")
    else:
        typer.echo("cancelled; no open HITs")
    typer.echo(f"committed spend {spend.committed_usd} USD of {spend.budget_usd} USD")
    if out.deferred:
        raise typer.Exit(3)
    if report is not None and report.still_open:
        raise typer.Exit(1)


@campaign_app.command("run")
def campaign_run(campaign_id: CampaignIdArg) -> None:
    """Drive a running campaign in the foreground against the configured MTurk endpoint."""
    from orchestrator.crowd.mturk import MTurkPlatform
    from orchestrator.scheduler.platform_stage import PlatformStage
    from orchestrator.scheduler.runner import RoundRunner
    from orchestrator.settings import get_settings

    engine = _engine()
    platform = MTurkPlatform.from_settings(get_settings().mturk)
    runner = RoundRunner(
        engine, PlatformStage(engine, platform), progress=lambda e, i: console.print(f"{e}: {i}")
    )
    try:
        runner.run(campaign_id)
    except LookupError as exc:
        if type(exc) is not LookupError:  # a KeyError or IndexError is a bug: keep its trace
            raise
        raise _fail(str(exc)) from exc  # the runner's "no campaign …"


# ----------------------------------------------------------------------------- export


@app.command("export")
def export(
    campaign_id: CampaignIdArg,
    out: Annotated[Path, typer.Option(help="Output file (.csv, .jsonl or .parquet).")],
) -> None:
    """Write a campaign's cleaned labels with provenance (schema in the README)."""
    from orchestrator.campaigns.cleaned_labels import campaign_export_rows
    from orchestrator.export import write_export
    from orchestrator.storage.errors import StorageError

    try:
        n = write_export(campaign_export_rows(_engine(), campaign_id), out)
    except (LookupError, ValueError, StorageError) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps({"path": str(out), "rows": n}))


# ----------------------------------------------------------------------------- clean


@app.command("clean")
def clean(
    source: Annotated[
        str,
        typer.Argument(
            help="A stored dataset (id or name) or a data file (.csv, .jsonl, .parquet)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output file (.csv, .jsonl or .parquet).")],
    model_config: Annotated[
        Path | None, typer.Option(help="JSON file with ModelConfig fields (overrides).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the fit.")] = 0,
    id_col: IdColOpt = "id",
    label_col: LabelColOpt = "label",
    text_col: TextColOpt = None,
    feature_cols: FeatureColsOpt = None,
    vector_col: VectorColOpt = None,
    image_col: ImageColOpt = None,
    classes: ClassesOpt = None,
    kind: KindOpt = None,
) -> None:
    """Clean labels with no crowd: fit the model, write every item's suggested label and the
    probability that its label is wrong (export schema v2, `p_label_wrong`).

    SOURCE is read as a file when one exists at that path (the column options map it, as for
    `dataset import`; nothing is stored), else as a stored dataset. Costs no money.
    """
    from orchestrator.cleaning.crowd_free import find_issues_without_crowd, issue_export_chunks
    from orchestrator.export import write_export
    from orchestrator.export.writer import format_from_suffix

    try:
        format_from_suffix(out)  # refuse a bad --out before minutes of fitting
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    config = _model_config_file(model_config)
    mapping = _mapping(
        id_col=id_col,
        label_col=label_col,
        text_col=text_col,
        feature_cols=feature_cols,
        vector_col=vector_col,
        image_col=image_col,
        classes=classes,
        kind=kind,
    )
    data = _clean_source(source, mapping)
    console.print(f"fitting the label model on {data.n_items} items (no crowd) …")
    issues = find_issues_without_crowd(data, config=config, seed=seed)
    chunks = issue_export_chunks(data, issues)
    n = write_export((row for chunk in chunks for row in chunk), out)
    typer.echo(
        json.dumps(
            {
                "path": str(out),
                "rows": n,
                "label_issues": issues.n_issues,
                "beta": issues.beta,
                "seconds": round(float(cast(float, issues.info.get("seconds", 0.0))), 3),
            }
        )
    )


def _model_config_file(path: Path | None) -> ModelConfig:
    from pydantic import ValidationError

    from orchestrator.model.config import ModelConfig

    if path is None:
        return ModelConfig()
    try:
        return ModelConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'model'}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid model config {path}: {fields}") from None
    except (json.JSONDecodeError, OSError) as exc:
        raise _fail(f"cannot read model config {path}: {exc}") from None


def _clean_source(source: str, mapping: ColumnMapping) -> LabeledData:
    """The data of `clean SOURCE`: the file at SOURCE if there is one, else the stored dataset."""
    from orchestrator.data.errors import DatasetError
    from orchestrator.data.image_upload import image_import_options
    from orchestrator.data.importer import SUPPORTED_SUFFIXES, read_dataset_file
    from orchestrator.data.store import load_dataset
    from orchestrator.settings import get_settings

    path = Path(source)
    try:
        if path.is_file():
            images = image_import_options(get_settings(), local_files=True)
            return read_dataset_file(path, mapping, images=images)
        return load_dataset(_engine(), source)
    except DatasetError as exc:
        if not path.is_file() and (path.suffix.lower() in SUPPORTED_SUFFIXES or "/" in source):
            raise _fail(f"{source}: no such file, and no stored dataset of that name") from exc
        raise _fail(str(exc)) from exc


# ----------------------------------------------------------------------------- demo


@app.command("demo")
def demo(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    dataset: Annotated[str, typer.Option(help="Built-in dataset.")] = "digits",
    noise: Annotated[float, typer.Option(help="Share of labels corrupted.")] = 0.2,
    noise_kind: Annotated[str, typer.Option(help="random | structural")] = "random",
    budget: Annotated[str, typer.Option(help="Spend cap in USD, fees included.")] = "25.00",
    rounds: Annotated[int, typer.Option(help="Sampling rounds after validation.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of everything.")] = 0,
    workdir: Annotated[
        Path | None, typer.Option(help="Where the demo's DB, artifacts and export go.")
    ] = None,
) -> None:
    """Run a whole campaign on a built-in dataset against an in-process MTurk simulator."""
    from orchestrator.demo import DemoOptions, run_demo

    options = DemoOptions(
        dataset=dataset,
        noise=noise,
        noise_kind=noise_kind,
        budget_usd=Decimal(budget),
        rounds=rounds,
        seed=seed,
        workdir=workdir,
    )
    report = run_demo(options, console=console, show_progress=not json_output)
    if json_output:
        typer.echo(json.dumps(report, default=str))
    else:
        table = Table("metric", "value", title="crowdclean demo")
        for k, v in report.items():
            table.add_row(k, str(v))
        Console().print(table)


_mounted: list[bool] = []


def _mount_optional() -> None:
    """Sub-apps owned by the crowd layer and the simulator."""
    from orchestrator.api.cli import apikey_app, serve
    from orchestrator.crowd.cli import app as crowd_cli
    from orchestrator.scheduler.cli import scheduler as scheduler_command
    from orchestrator.simulator.cli import app as simulator_cli
    from orchestrator.storage.cli import app as artifacts_cli

    if _mounted:
        return
    _mounted.append(True)
    for command in crowd_cli.registered_commands:
        campaign_app.registered_commands.append(command)
    app.add_typer(simulator_cli, name="simulator", help="The local MTurk-compatible simulator.")
    app.command("serve")(serve)
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(artifacts_cli, name="artifacts")
    __import__("orchestrator.bench.cli", fromlist=["mount"]).mount(app)  # bench, bench-report
    app.command("scheduler")(scheduler_command)


def main() -> None:
    """Console-script entry point."""
    _mount_optional()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
