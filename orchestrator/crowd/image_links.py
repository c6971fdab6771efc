"""The URL a worker's browser loads an item's image from, for images kept in a bucket.

An ``s3://bucket/key`` image is shown through a presigned GET URL. MTurk keeps the HTML of a
HIT as it was created, so the URL must stay valid as long as anyone may look at the HIT: its
lifetime (workers accept it), plus the assignment duration (a worker who accepted at the last
second is still working), plus the auto-approval delay (the requester reviews the answers).
:func:`image_link_lifetime_s` is that sum; with the default crowd options it is 6 days and
10 minutes. A SigV4 presigned URL lives at most 7 days (:data:`MAX_PRESIGN_S`), so a campaign
whose HITs outlive that is refused with a message naming the alternative (a public base URL).
A URL presigned with temporary credentials (an instance role, STS) also dies with them: presign
with long-lived credentials, or serve the images under a public base URL.
"""

from __future__ import annotations

from typing import Any, Protocol

from orchestrator.crowd.config import CrowdConfig
from orchestrator.data.image_sources import ImageSourceKind, classify_image_source, split_s3

#: SigV4's longest presigned URL lifetime, seconds (7 days).
MAX_PRESIGN_S = 7 * 24 * 3600


class ImageLinkError(ValueError):
    """An image cannot be given a URL that stays valid as long as the HIT needs it."""


class ImageLinks(Protocol):
    """Turns a stored image reference into the URL the HIT shows."""

    def url_for(self, ref: str, *, valid_for_s: int) -> str:
        """The URL of ``ref``, valid at least ``valid_for_s`` seconds from now; a reference
        that needs no link (an https URL, a local file) comes back unchanged."""
        ...


def image_link_lifetime_s(crowd: CrowdConfig) -> int:
    """Seconds a HIT's image URL must stay valid: HIT lifetime + assignment duration +
    auto-approval delay (the requester's review time)."""
    return crowd.lifetime_s + crowd.assignment_duration_s + crowd.auto_approval_delay_s


class PresignedS3Links:
    """:class:`ImageLinks` for ``s3://`` references, by presigned GET URLs.

    ``client``: a boto3 S3 client that signs with SigV4 (its endpoint, region and credentials
    sign the URL), e.g. :func:`orchestrator.storage.presign_client.presigning_s3_client`.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def url_for(self, ref: str, *, valid_for_s: int) -> str:
        try:
            kind = classify_image_source(ref, allow_loopback_http=True)
        except ValueError:
            return ref
        if kind != ImageSourceKind.S3:
            return ref
        if valid_for_s > MAX_PRESIGN_S:
            raise ImageLinkError(
                f"the campaign's HITs need their image URLs for {valid_for_s} s (lifetime + "
                "assignment duration + auto-approval delay), longer than the 7 days "
                f"({MAX_PRESIGN_S} s) a presigned S3 URL can live; shorten crowd.lifetime_s or "
                "crowd.auto_approval_delay_s, or serve the images under "
                "CROWDCLEAN_IMAGES__PUBLIC_BASE_URL"
            )
        bucket, key = split_s3(ref)
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=int(valid_for_s)
        )
        return url
