"""The import's HIT-size rule: an item or a class set whose HIT cannot fit MTurk's 65,535-byte
Question limit is refused at import, not at publish time. Used by
:mod:`orchestrator.data.importer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from orchestrator.data.errors import DatasetError

if TYPE_CHECKING:
    from orchestrator.data.importer import ColumnMapping


#: Bytes of MTurk's 65,535-byte Question limit kept free for what a campaign adds to the HIT
#: (an image, its title and instructions).
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
) -> None:
    """Refuse an item (or a class set) whose HIT cannot fit MTurk's Question size limit.

    Every HIT lists all classes and holds one item's text, so only the items with the largest
    escaped text and label are rendered (with the default templates): if they fit, all do.
    """
    import html

    from orchestrator.crowd.identity import key_of_external_id
    from orchestrator.crowd.render import (
        MAX_QUESTION_BYTES,
        ItemView,
        QuestionTooLargeError,
        TaskRenderer,
    )

    limit = MAX_QUESTION_BYTES - HIT_HEADROOM_BYTES
    renderer = TaskRenderer()

    def size(i: int, text: str) -> int:
        view = ItemView(
            key=key_of_external_id(ids[i]),
            current_label=labels[i],
            options=list(classes),
            text=text or f"Item {ids[i]}",
        )
        try:
            return len(renderer.render_item(view).encode("utf-8"))
        except QuestionTooLargeError:
            return MAX_QUESTION_BYTES + 1

    def escaped(t: str) -> int:
        return len(html.escape(t).encode("utf-8", "surrogatepass"))

    score = np.asarray(
        [
            escaped(labels[i]) + (escaped(texts[i]) if texts is not None else len(ids[i]))
            for i in range(len(ids))
        ],
        dtype=np.int64,
    )
    for i in np.argsort(-score, kind="stable")[:_HIT_CANDIDATES].tolist():
        text = texts[i] if texts is not None else ""
        if size(i, text) <= limit:
            continue
        bare = size(i, "")
        if bare > limit:
            raise DatasetError(
                f"the class names ({sum(len(c) for c in classes)} characters in all) make every "
                f"HIT larger than MTurk's {MAX_QUESTION_BYTES}-byte Question limit (less "
                f"{HIT_HEADROOM_BYTES} bytes kept for the campaign); shorten them",
                source=source,
                column=mapping.label_column,
            )
        raise DatasetError(
            f"this item's text ({len(text)} characters) makes its HIT larger than MTurk's "
            f"{MAX_QUESTION_BYTES}-byte Question limit (less {HIT_HEADROOM_BYTES} bytes kept for "
            "the campaign); shorten it",
            source=source,
            row=int(rows[i]),
            column=mapping.text_column,
        )
