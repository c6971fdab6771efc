"""Service configuration: one pydantic-settings class, read lazily.

Sources, highest priority first: keyword arguments, environment variables with the prefix
``CROWDCLEAN_`` (nested fields use ``__``, e.g. ``CROWDCLEAN_MTURK__ENDPOINT_URL``), a
``crowdclean.toml`` file in the working directory (or the path in ``CROWDCLEAN_CONFIG``), then
the defaults below. Nothing here opens a database, file or socket at import time; call
:func:`get_settings` when a value is needed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, NonNegativeFloat, PositiveFloat
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from orchestrator.config_types import AtLeastOne


class MTurkSettings(BaseModel):
    """Where HITs go. Production, sandbox and the local simulator differ only here."""

    endpoint_url: str | None = Field(
        default=None,
        description=(
            "MTurk endpoint. None means production "
            "(https://mturk-requester.us-east-1.amazonaws.com); the sandbox is "
            "https://mturk-requester-sandbox.us-east-1.amazonaws.com; the simulator prints its own."
        ),
    )
    region_name: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    max_requests_per_second: PositiveFloat = Field(
        default=5.0, description="Client-side rate limit."
    )


class SchedulerSettings(BaseModel):
    """How ``crowdclean scheduler`` (or the scheduler inside ``crowdclean serve``) works.

    Seconds throughout. A process advances a campaign only while it holds the campaign's lease;
    it renews the lease every ``lease_ttl_s / 3`` while working, so a killed process's
    campaigns are taken over by another (or the restarted) process after at most
    ``lease_ttl_s``. Keep ``lease_ttl_s`` well above the clock skew between scheduler hosts.
    """

    interval_s: PositiveFloat = Field(default=5.0, description="Seconds between ticks.")
    slice_s: PositiveFloat = Field(
        default=60.0, description="Longest time one tick spends on one campaign."
    )
    lease_ttl_s: PositiveFloat = Field(default=60.0, description="Lease lifetime without renewal.")
    max_failures: AtLeastOne = Field(
        default=8,
        description="Consecutive failed steps of one campaign before it is marked failed; "
        "retries back off from interval_s, doubling up to 10 minutes (8 ≈ 10 min of outage).",
    )
    heartbeat_path: Path | None = Field(
        default=None,
        description="File the scheduler rewrites (UTC ISO time) after every tick and step; a "
        "container health check reads its age. None: no heartbeat file.",
    )


class ApiSettings(BaseModel):
    """The HTTP API (``crowdclean serve``). Sizes in bytes, times in seconds."""

    host: str = Field(default="127.0.0.1", description="Interface `crowdclean serve` binds.")
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(
        default=1 << 20, ge=1024, description="Largest request body (JSON), 413 beyond."
    )
    max_upload_bytes: int = Field(
        default=256 << 20, ge=1024, description="Largest dataset upload (multipart), 413 beyond."
    )
    default_page_size: AtLeastOne = 100
    max_page_size: AtLeastOne = Field(default=1000, description="Cap on `limit` of item pages.")
    status_cache_ttl_s: NonNegativeFloat = Field(
        default=1.0,
        description="A campaign's status is recomputed at most this often per process "
        "(0: never cached).",
    )
    auth_cache_ttl_s: NonNegativeFloat = Field(
        default=5.0,
        description="A verified API key is trusted this long without a database lookup; a revoked "
        "key stops working within this time (0: look up every request).",
    )
    dashboard_points: int = Field(
        default=5000, ge=100, le=20000, description="Latent-space points drawn per dashboard."
    )
    clean_max_items: AtLeastOne = Field(
        default=10_000,
        description="Largest dataset `POST /v1/datasets/{ref}/clean` fits while the client "
        "waits (the default model takes about a minute on one core at this size); larger ones "
        "answer 422 `dataset-too-large` and are cleaned with `crowdclean clean`.",
    )
    clean_concurrency: AtLeastOne = Field(
        default=1,
        description="Synchronous cleans one API process fits at a time; a request beyond them "
        "answers 503 `busy` with Retry-After instead of queueing behind minutes of fitting.",
    )


class ImageSettings(BaseModel):
    """How image items reach workers (``CROWDCLEAN_IMAGES__…``). Bytes and seconds.

    Local image files are uploaded at import to ``bucket_url`` and shown through presigned URLs,
    or, when ``public_base_url`` is set instead, shown as that URL joined with the file's path
    relative to the dataset file (the operator serves that folder there). With neither, a file
    is inlined into the HIT when it fits MTurk's Question size limit, else refused at import.
    """

    bucket_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix where imported local image files are uploaded "
        "(the S3 endpoint and credentials are boto3's usual ones).",
    )
    public_base_url: str | None = Field(
        default=None,
        description="https URL under which the operator serves the dataset file's folder; a "
        "local image path relative to the dataset file is shown as this URL + the path.",
    )
    allow_loopback_http: bool = Field(
        default=False,
        description="Development only: accept and show http:// image URLs on a loopback host "
        "(tests, a local S3 server). Production HITs are https pages; http images break there.",
    )
    fetch_timeout_s: PositiveFloat = Field(
        default=20.0, description="Longest time one image URL may take to download."
    )
    fetch_max_bytes: int = Field(
        default=50 << 20, ge=1024, description="Largest image downloaded to compute features."
    )
    fetch_concurrency: int = Field(
        default=8, ge=1, le=64, description="Image URLs downloaded at once during an import."
    )


class Settings(BaseSettings):
    """All tunables of the service. Units are in the field names or descriptions."""

    model_config = SettingsConfigDict(
        env_prefix="CROWDCLEAN_",
        env_nested_delimiter="__",
        toml_file="crowdclean.toml",
        extra="ignore",
    )

    database_url: str = Field(
        default="sqlite:///./crowdclean.db",
        description="SQLAlchemy URL. SQLite by default; postgresql+psycopg://... for deployments.",
    )
    data_dir: Path = Field(
        default=Path("./crowdclean-data"),
        description="Where artifacts (features, latent vectors, posteriors, exports) are written.",
    )
    artifacts_url: str | None = Field(
        default=None,
        description="Where new datasets and campaigns keep their artifacts (features, latent "
        "vectors, posteriors, round picks, the final model): s3://bucket/prefix (shared by every "
        "host that reaches the bucket) or a local directory. None: data_dir. Artifacts already "
        "written stay where the database says they are.",
    )
    artifact_cache_dir: Path | None = Field(
        default=None,
        description="This host's cache of artifacts read from S3 (safe to delete). None: "
        "<data_dir>/artifact-cache.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "crowdclean"
        ),
        description="Download cache for the built-in datasets (package archives, embeddings).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint for artifacts and uploaded images (MinIO, Ceph, a "
        "test server: http(s)://host:port). None: AWS S3 itself. Credentials and region come "
        "from boto3's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
        "AWS_DEFAULT_REGION, ~/.aws, an instance role).",
    )
    seed: int = Field(default=0, description="Seed for every random generator of a run.")
    torch_threads: AtLeastOne = Field(
        default=1, description="torch / BLAS threads (see ModelConfig.torch_threads)."
    )
    mturk: MTurkSettings = Field(default_factory=MTurkSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("CROWDCLEAN_CONFIG", "crowdclean.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
            file_secret_settings,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first call. ``get_settings.cache_clear()`` rereads."""
    return Settings()
