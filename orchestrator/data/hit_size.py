"""The import's HIT-size rule: an item or a class set whose HIT cannot fit MTurk's 65,535-byte
Question limit is refused at import, not at publish time. Used by
:mod:`orchestrator.data.importer`.

What is measured is the HIT of the default templates with the item's text, its table of named
values (:mod:`orchestrator.data.display`) and, for a local image file that will be inlined (no
bucket and no public base URL configured), the image as a data URI. Images given by URL are not
in the HIT, so their size never counts.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from orchestrator.data.errors import DatasetError
from orchestrator.data.image_sources import ImageSourceKind

if TYPE_CHECKING:
    from orchestrator.data.dataset import DisplayTable
    from orchestrator.data.image_column import ImageColumn
    from orchestrator.data.importer import ColumnMapping


#: Bytes of MTurk's 65,535-byte Question limit kept free for what a campaign adds to the HIT
#: (its title and instructions).
HIT_HEADROOM_BYTES = 8192
_HIT_CANDIDATES = 5


def check_hit_size(
    ids: list[str],
    labels: list[str],
    classes: tuple[str, ...],
    texts: tuple[str, ...] | None,
    mapping: ColumnMapping,
    rows: np.ndarray,
    source: str,
    *,
    display: DisplayTable | None = None,
    inline_images: ImageColumn | None = None,
) -> None:
    """Refuse an item (or a class set) whose HIT cannot fit MTurk's Question size limit.

    Every HIT lists all classes and holds one item's text and table, so only the items with
    the largest escaped text, table and label are rendered (with the default templates): if
    they fit, all do. ``inline_images``: an image column whose local files will be inlined
    (no bucket configured); its largest file is rendered inlined too.
    """
    from orchestrator.crowd.render import MAX_QUESTION_BYTES

    limit = MAX_QUESTION_BYTES - HIT_HEADROOM_BYTES
    size = _HitSize(ids, labels, classes, display)
    score = _escaped_sizes(ids, labels, texts, display)
    for i in np.argsort(-score, kind="stable")[:_HIT_CANDIDATES].tolist():
        text = texts[i] if texts is not None else ""
        if size(i, text) <= limit:
            continue
        if size(i, "", with_fields=False) > limit:
            raise DatasetError(
                f"the class names ({sum(len(c) for c in classes)} characters in all) make every "
                f"HIT larger than MTurk's {MAX_QUESTION_BYTES}-byte Question limit (less "
                f"{HIT_HEADROOM_BYTES} bytes kept for the campaign); shorten them",
                source=source,
                column=mapping.label_column,
            )
        what, column = (
            (f"text ({len(text)} characters)", mapping.text_column)
            if texts is not None and size(i, text, with_fields=False) > limit
            else ("table of display values", (mapping.display_columns or (None,))[0])
        )
        raise DatasetError(
            f"this item's {what} makes its HIT larger than MTurk's {MAX_QUESTION_BYTES}-byte "
            f"Question limit (less {HIT_HEADROOM_BYTES} bytes kept for the campaign); shorten it",
            source=source,
            row=int(rows[i]),
            column=column,
        )
    if inline_images is not None:
        _check_inline_images(inline_images, size, limit, MAX_QUESTION_BYTES, source)


class _HitSize:
    """Bytes of one item's HIT rendered with the default templates; one more than MTurk's
    limit when the renderer refuses it as too large."""

    def __init__(
        self,
        ids: list[str],
        labels: list[str],
        classes: tuple[str, ...],
        display: DisplayTable | None,
    ) -> None:
        from orchestrator.crowd.render import TaskRenderer

        self.ids, self.labels, self.classes, self.display = ids, labels, classes, display
        self.renderer = TaskRenderer()

    def __call__(
        self, i: int, text: str, *, with_fields: bool = True, image: str | None = None
    ) -> int:
        """Item ``i``'s HIT with ``text``, its display table unless not ``with_fields``, and
        ``image`` as its image source."""
        from orchestrator.crowd.identity import key_of_external_id
        from orchestrator.crowd.render import MAX_QUESTION_BYTES, ItemView, QuestionTooLargeError

        display = self.display if with_fields else None
        view = ItemView(
            key=key_of_external_id(self.ids[i]),
            current_label=self.labels[i],
            options=list(self.classes),
            text=text or (None if display is not None or image else "x"),
            fields=(
                list(zip(display.columns, display.values[i], strict=True))
                if display is not None
                else []
            ),
            fields_omitted=display.omitted if display is not None else 0,
            image_src=image,
        )
        try:
            return len(self.renderer.render_item(view).encode("utf-8"))
        except QuestionTooLargeError:
            return MAX_QUESTION_BYTES + 1


def _escaped_sizes(
    ids: list[str],
    labels: list[str],
    texts: tuple[str, ...] | None,
    display: DisplayTable | None,
) -> npt.NDArray[np.int64]:
    """(n,) bytes of each item's HTML-escaped label, text (else id) and display values."""

    def escaped(t: str) -> int:
        return len(html.escape(t).encode("utf-8", "surrogatepass"))

    table = (
        [sum(escaped(v) for v in r) for r in display.values]
        if display is not None
        else [0] * len(ids)
    )
    return np.asarray(
        [
            escaped(labels[i])
            + (escaped(texts[i]) if texts is not None else len(ids[i]))
            + table[i]
            for i in range(len(ids))
        ],
        dtype=np.int64,
    )


def _check_inline_images(
    images: ImageColumn, size: Callable[..., int], limit: int, max_bytes: int, source: str
) -> None:
    """Refuse the largest local image file when, inlined as a data URI, its HIT is too large."""
    local = [i for i, k in enumerate(images.kinds) if k == ImageSourceKind.FILE]
    if not local:
        return
    i = max(local, key=lambda j: Path(images.refs[j]).stat().st_size)
    n_bytes = Path(images.refs[i]).stat().st_size
    # base64 grows the file by 4/3: past the whole limit there is no need to render it
    fits = n_bytes * 4 // 3 < limit and size(i, "", image=images.refs[i]) <= limit
    if not fits:
        raise DatasetError(
            f"image file of {n_bytes} bytes is too large to inline into a HIT (MTurk's "
            f"Question limit is {max_bytes} bytes); set CROWDCLEAN_IMAGES__BUCKET_URL="
            "s3://bucket/prefix to upload images and show them by presigned URL, or "
            "CROWDCLEAN_IMAGES__PUBLIC_BASE_URL to the https URL where you serve them",
            source=source,
            row=images.rows[i],
            column=images.column,
        )
