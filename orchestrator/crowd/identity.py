"""How our HITs are recognised on the platform: request tokens, item keys, annotations.

A HIT's ``UniqueRequestToken`` is derived from (campaign, item, attempt) (a pair HIT's from both
items), so a retry after a crash sends the same token and MTurk refuses to create a second HIT.
The token also travels in the HIT's ``RequesterAnnotation`` (with the campaign and the item
key), because MTurk forgets a token after 24 h and answers "already exists" without always
naming the HIT: listing the account's HITs and reading their annotations is then the only way
back to the HIT.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator

from orchestrator.crowd.platform import CrowdPlatform, PlatformHit
from orchestrator.db.models import Item

ANNOTATION_VERSION = 1
#: MTurk's limit on ``RequesterAnnotation``, characters.
MAX_ANNOTATION_CHARS = 255
#: Longest external id sent as the item key as is; longer ones are hashed.
MAX_PLAIN_KEY_CHARS = 120


def unique_request_token(campaign_id: uuid.UUID, item_id: uuid.UUID, attempt: int) -> str:
    """Deterministic CreateHIT token for (campaign, item, attempt): ``cc1-`` + 40 hex (44 chars)."""
    digest = hashlib.sha256(f"{campaign_id}:{item_id}:{attempt}".encode()).hexdigest()
    return f"cc1-{digest[:40]}"


def pair_request_token(
    campaign_id: uuid.UUID, first_id: uuid.UUID, second_id: uuid.UUID, attempt: int
) -> str:
    """CreateHIT token of a pair HIT: ``cc1-`` + 40 hex, from (campaign, both items, attempt).

    Both items go into the digest, so a pair never shares a token with a single-item HIT of
    its first item, nor with another pair of it.
    """
    digest = hashlib.sha256(f"{campaign_id}:{first_id}+{second_id}:{attempt}".encode())
    return f"cc1-{digest.hexdigest()[:40]}"


def item_key(item: Item) -> str:
    """The item key shown to the simulator/oracle: ``Item.external_id`` (hashed past 120 chars)."""
    return key_of_external_id(item.external_id)


def key_of_external_id(external_id: str) -> str:
    """:func:`item_key` of an item with this ``external_id``."""
    if len(external_id) <= MAX_PLAIN_KEY_CHARS:
        return external_id
    return "sha256:" + hashlib.sha256(external_id.encode()).hexdigest()[:32]


def annotation_fits(external_id: str) -> bool:
    """Whether an item with this id can be published: its key, JSON-escaped in the requester
    annotation, keeps the annotation within MTurk's 255 characters (an id of up to 120
    characters is sent as is, so 26 non-ASCII characters, 6 each once escaped, are enough to
    overflow it)."""
    try:
        requester_annotation(uuid.UUID(int=0), "cc1-" + "0" * 40, key_of_external_id(external_id))
    except ValueError:
        return False
    return True


def requester_annotation(campaign_id: uuid.UUID, token: str, key: str) -> str:
    """``{"v":1,"c":<campaign hex>,"t":<token>,"k":<item key>}`` (≤ 255 chars).

    A pair HIT carries its first item's key (two keys of up to 120 characters do not fit);
    both keys are in its form's hidden fields, and the token names the pair."""
    ann = json.dumps(
        {"v": ANNOTATION_VERSION, "c": campaign_id.hex, "t": token, "k": key},
        separators=(",", ":"),
    )
    if len(ann) > MAX_ANNOTATION_CHARS:
        raise ValueError(f"annotation of {len(ann)} chars exceeds {MAX_ANNOTATION_CHARS}")
    return ann


def parse_annotation(annotation: str) -> dict[str, str] | None:
    """The fields of one of our annotations, or None for a foreign HIT."""
    try:
        data = json.loads(annotation or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != ANNOTATION_VERSION:
        return None
    if not all(isinstance(data.get(k), str) for k in ("c", "t", "k")):
        return None
    return {k: str(data[k]) for k in ("c", "t", "k")}


def our_hits(platform: CrowdPlatform) -> Iterator[tuple[PlatformHit, dict[str, str]]]:
    """Every HIT of the account that carries one of our annotations, with its fields (ListHITs).

    Lazy, so a caller looking for one token stops listing pages once it is found.
    """
    for hit in platform.iter_hits():
        ann = parse_annotation(hit.requester_annotation)
        if ann is not None:
            yield hit, ann


def find_hit_by_token(platform: CrowdPlatform, token: str) -> str | None:
    """The id of the HIT created with this request token, or None (lists the account's HITs)."""
    return next((hit.hit_id for hit, ann in our_hits(platform) if ann["t"] == token), None)


def exclusion_qualification(platform: CrowdPlatform, campaign_id: uuid.UUID) -> str:
    """The id of the campaign's exclusion qualification, created on first use.

    The HIT type requires its absence and a worker who fails the gold checks is granted it, so
    the name must be the same every time: the platform finds the existing type by that name.
    """
    return platform.create_qualification_type(
        f"crowdclean-excluded-{campaign_id.hex}",
        f"Workers excluded from crowdclean campaign {campaign_id} after failing checks.",
    )
