"""deploy/: the env example lists every setting, the compose file wires the four services."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel

from orchestrator.settings import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _env_names(model: type[BaseModel], prefix: str = "CROWDCLEAN_") -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names |= _env_names(ann, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_env_example_lists_every_setting() -> None:
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"^#?\s*(CROWDCLEAN_[A-Z0-9_]+)=", text, flags=re.M))
    missing = _env_names(Settings) - mentioned
    assert not missing, f"deploy/.env.example lacks {sorted(missing)}"
    # every active assignment is a real setting, or one the compose file itself reads
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    for name in re.findall(r"^(CROWDCLEAN_[A-Z0-9_]+)=", text, flags=re.M):
        assert name in _env_names(Settings) or "${" + name in compose, name
    # the example's values are valid settings
    values = dict(re.findall(r"^(CROWDCLEAN_[A-Z0-9_]+)=(.*)$", text, flags=re.M))
    nested: dict[str, dict[str, str]] = {}
    flat: dict[str, str] = {}
    for k, v in values.items():
        key = k.removeprefix("CROWDCLEAN_").lower()
        if "__" in key:
            outer, inner = key.split("__", 1)
            nested.setdefault(outer, {})[inner] = v
        elif key in Settings.model_fields:
            flat[key] = v
    Settings.model_validate({**flat, **nested})


def test_compose_wires_services_with_health_checks() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = doc["services"]
    assert {"postgres", "migrate", "api", "scheduler", "simulator"} <= set(services)
    commands = {name: services[name].get("command") for name in services}
    assert commands["api"][0] == "serve"
    assert commands["scheduler"] == ["scheduler"]
    assert commands["simulator"][:2] == ["simulator", "serve"]
    assert commands["migrate"] == ["db", "upgrade"]
    for name in ("postgres", "api", "scheduler", "simulator"):
        assert "healthcheck" in services[name], name
    for name in ("api", "scheduler"):
        svc = services[name]
        assert svc["env_file"] == ".env"
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "crowdclean-data:/data" in svc["volumes"]  # shared artifacts
        assert svc["environment"]["CROWDCLEAN_DATABASE_URL"].startswith("postgresql+psycopg://")
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in dockerfile
    assert "download.pytorch.org/whl/cpu torch==2.13.0" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.M)


def test_compose_has_the_artifact_bucket_and_points_the_services_at_it() -> None:
    from urllib.parse import urlsplit

    from orchestrator.storage.s3_client import S3Url

    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = doc["services"]
    minio = services["minio"]
    assert minio["image"].startswith("minio/minio:RELEASE.")  # pinned, not :latest
    assert "healthcheck" in minio and "bucket-data" in doc["volumes"]
    # its root credentials are the pair the api and scheduler use through boto3's chain
    assert minio["environment"]["MINIO_ROOT_USER"].startswith("${AWS_ACCESS_KEY_ID")
    assert minio["environment"]["MINIO_ROOT_PASSWORD"].startswith("${AWS_SECRET_ACCESS_KEY")
    bucket = services["bucket"]
    assert bucket["command"] == ["artifacts", "check", "--create-bucket"]
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("api", "scheduler"):
        dep = services[name]["depends_on"]["bucket"]
        assert dep["condition"] == "service_completed_successfully", name
    env = dict(
        re.findall(
            r"^([A-Z][A-Z0-9_]+)=(.*)$",
            (DEPLOY / ".env.example").read_text(encoding="utf-8"),
            flags=re.M,
        )
    )
    assert S3Url.parse(env["CROWDCLEAN_ARTIFACTS_URL"]).prefix  # s3://bucket/prefix
    endpoint = urlsplit(env["CROWDCLEAN_S3_ENDPOINT_URL"])
    assert endpoint.hostname == "minio" and endpoint.port == 9000  # MinIO's API port
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(env)
