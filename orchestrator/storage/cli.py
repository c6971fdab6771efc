"""``crowdclean artifacts check``: is the configured artifact store usable from this host?"""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Artifact storage (CROWDCLEAN_ARTIFACTS_URL): check it, create its bucket.")


@app.command()
def check(
    create_bucket: Annotated[
        bool,
        typer.Option(
            "--create-bucket",
            help="Create the bucket of an s3:// CROWDCLEAN_ARTIFACTS_URL if it does not exist.",
        ),
    ] = False,
) -> None:
    """Write access to the artifact store, or exit 2 saying what is wrong and where."""
    from orchestrator.settings import get_settings
    from orchestrator.storage.artifacts import artifact_root
    from orchestrator.storage.errors import StorageError
    from orchestrator.storage.s3_client import S3Url, s3_client_from_settings, storage_error

    settings = get_settings()
    created = False
    try:
        root = artifact_root(settings)
        url = settings.artifacts_url or ""
        if create_bucket and url.startswith("s3://"):
            bucket = S3Url.parse(url).bucket
            client = s3_client_from_settings(settings)
            try:
                client.head_bucket(Bucket=bucket)
            except Exception as exc:
                status = getattr(exc, "response", {}).get("ResponseMetadata", {})
                if status.get("HTTPStatusCode") != 404:
                    raise storage_error(exc, client=client, bucket=bucket) from exc
                region = client.meta.region_name
                try:
                    if region and region != "us-east-1":  # AWS wants the region named
                        client.create_bucket(
                            Bucket=bucket,
                            CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                        )
                    else:
                        client.create_bucket(Bucket=bucket)
                except Exception as create_exc:
                    raise storage_error(create_exc, client=client, bucket=bucket) from create_exc
                created = True
        root.check()
    except StorageError as exc:
        typer.echo(f"error: artifact storage: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"location": root.location, "ok": True, "created_bucket": created}))
