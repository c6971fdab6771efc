"""HIT rendering: Jinja2 templates from ``task_templates/`` → MTurk ``HTMLQuestion`` XML.

Templates are autoescaped with ``StrictUndefined`` (a missing context key is an error, not an
empty string), so item text containing markup or script is shown as text. The HTML is wrapped in
a CDATA section; any ``]]>`` in it is split across two sections so it cannot end the CDATA early.
MTurk refuses Question documents over 65,535 bytes: :class:`QuestionTooLargeError` is raised
before any call.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import mimetypes
import os
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jinja2

if TYPE_CHECKING:
    from orchestrator.crowd.pair_task import PairView

HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
#: MTurk's limit on the Question parameter, bytes (UTF-8).
MAX_QUESTION_BYTES = 65_535
TEXT_TASK = "label_verification_text"
IMAGE_TASK = "label_verification_image"
TABLE_TASK = "label_verification_table"


class QuestionTooLargeError(ValueError):
    """The rendered HTMLQuestion exceeds MTurk's 64 KiB limit."""


class UnsafeImageSourceError(ValueError):
    """An image source no worker's browser should be given: not https (nor loopback http in
    development), not a ``data:image/`` URI, not a readable image file."""


def default_templates_dir() -> Path:
    """``$CROWDCLEAN_TEMPLATES_DIR``, else the installed ``task_templates`` package's folder.

    ``task_templates/`` sits at the repository root and is shipped in the wheel as a package
    (see ``pyproject.toml``), so an editable and a regular install both resolve it here.
    """
    env = os.environ.get("CROWDCLEAN_TEMPLATES_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("task_templates")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the task_templates package is not installed; reinstall crowdclean or set "
            "CROWDCLEAN_TEMPLATES_DIR to a folder of templates"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class WorkedExample:
    """The single worked example shown above the task."""

    text: str
    shown_label: str
    correct_label: str
    explanation: str
    image_src: str = ""


@dataclass(frozen=True)
class ItemView:
    """What a worker sees of one item: its image (with ``text`` as a caption), else its
    ``text``, else its table of named values; ``fields`` are shown under an image or a text too.

    Attributes:
        fields: (name, value) pairs shown as a table, in order.
        fields_omitted: values a default table left out (the worker is told how many).
    """

    key: str
    current_label: str
    options: Sequence[str]
    text: str | None = None
    image_src: str | None = None
    fields: Sequence[tuple[str, str]] = ()
    fields_omitted: int = 0
    title: str | None = None
    instructions: str | None = None
    worked_example: WorkedExample | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def task_type(self) -> str:
        """The image task when there is an image, the table task for a table of values
        without text, else the text task."""
        if self.image_src:
            return IMAGE_TASK
        if self.fields and not self.text:
            return TABLE_TASK
        return TEXT_TASK


class QuestionRenderer(Protocol):
    """Turns an item, or a pair of items, into the ``Question`` parameter of
    CreateHITWithHITType."""

    def render_item(self, view: ItemView) -> str:
        """HTMLQuestion XML for ``view`` (≤ 65,535 bytes)."""
        ...

    def render_pair(self, pair: PairView) -> str:
        """HTMLQuestion XML of a pair HIT (≤ 65,535 bytes)."""
        ...


# Characters XML 1.0 forbids anywhere, CDATA included (control characters such as Excel's
# in-cell break \x0b, \x00, \x1b; the noncharacters \ufffe and \uffff; lone surrogates). One of
# them makes the whole HTMLQuestion malformed: MTurk refuses it, or a lenient path shows workers
# a broken form whose answers come back empty, paid for nothing.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def cdata(text: str) -> str:
    """``text`` as one or more CDATA sections; ``]]>`` cannot terminate them early, and a
    character XML forbids becomes U+FFFD (the import refuses such text; this is the last guard
    for text from anywhere else: built-in data, HIT instructions)."""
    text = _NOT_XML_CHAR.sub("\ufffd", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def html_question(html: str, frame_height: int = 0) -> str:
    """Wrap an HTML document in MTurk's HTMLQuestion XML. ``frame_height`` in pixels (0 = fit)."""
    if frame_height < 0:
        raise ValueError("frame_height must be >= 0 pixels")
    xml = (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}">'
        f"<HTMLContent>{cdata(html)}</HTMLContent>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</HTMLQuestion>"
    )
    size = len(xml.encode("utf-8"))
    if size > MAX_QUESTION_BYTES:
        raise QuestionTooLargeError(
            f"HTMLQuestion is {size} bytes; MTurk accepts at most {MAX_QUESTION_BYTES}"
        )
    return xml


def safe_image_src(src: str, *, allow_loopback_http: bool = False) -> str:
    """An image source fit for the template, or :class:`UnsafeImageSourceError`.

    https URLs and ``data:image/`` base64 URIs pass as they are; http URLs only on a loopback
    host with ``allow_loopback_http`` (development); a local image file is inlined as a base64
    data URI, whatever its size (the HTMLQuestion's own limit, :data:`MAX_QUESTION_BYTES`, is
    the only cap: a larger image must be served by URL). The rules for URLs are
    :func:`orchestrator.data.image_sources.classify_image_source`.
    """
    from orchestrator.data.image_sources import (
        ImageSourceError,
        ImageSourceKind,
        classify_image_source,
    )

    text = src.strip()
    if text.lower().startswith("data:image/") and ";base64," in text.lower():
        return text
    try:
        kind = classify_image_source(text, allow_loopback_http=allow_loopback_http)
    except ImageSourceError as exc:
        raise UnsafeImageSourceError(str(exc)) from None
    if kind in (ImageSourceKind.HTTPS, ImageSourceKind.LOOPBACK_HTTP):
        return text
    if kind == ImageSourceKind.S3:
        raise UnsafeImageSourceError(
            f"{text[:80]!r} must be presigned before rendering (see orchestrator.crowd.image_links)"
        )
    path = Path(text)
    if not path.is_file():
        raise UnsafeImageSourceError(f"refusing image source {src[:80]!r}")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not mime.startswith("image/"):
        raise UnsafeImageSourceError(f"{path} is not an image ({mime})")
    data = path.read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def grayscale_png_data_uri(pixels: Sequence[Sequence[float]], *, scale: int = 1) -> str:
    """A PNG data URI from a 2-D array of intensities in [0, 1] (rows × columns, 1 = ink).

    Ink is drawn dark on white; ``scale`` repeats each pixel (integer ≥ 1). Useful for datasets
    that store images as feature vectors (e.g. 8×8 digits).
    """
    if scale < 1:
        raise ValueError("scale must be >= 1")
    rows: list[bytes] = []
    for row in pixels:
        vals = bytes(
            255 - max(0, min(255, round(float(v) * 255))) for v in row for _ in range(scale)
        )
        rows.extend([vals] * scale)
    if not rows:
        raise ValueError("empty image")
    width, height = len(rows[0]), len(rows)
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class TaskRenderer:
    """Renders the task templates. ``templates_dir`` defaults to :func:`default_templates_dir`.

    ``frame_height`` is the HTMLQuestion frame height in pixels (0 lets MTurk fit the page).
    ``allow_loopback_http``: show http image URLs on a loopback host (development only; see
    ``ImageSettings.allow_loopback_http``).
    """

    def __init__(
        self,
        templates_dir: Path | str | None = None,
        *,
        frame_height: int = 0,
        allow_loopback_http: bool = False,
    ) -> None:
        self.templates_dir = Path(templates_dir) if templates_dir else default_templates_dir()
        self.frame_height = frame_height
        self.allow_loopback_http = allow_loopback_http
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.templates_dir)),
            autoescape=True,  # every template here is HTML, whatever its extension
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    def task_types(self) -> list[str]:
        """Folders that hold a ``template.html.j2``."""
        return sorted(
            p.parent.name
            for p in self.templates_dir.glob("*/template.html.j2")
            if not p.parent.name.startswith("_")
        )

    def example_context(self, task_type: str) -> dict[str, Any]:
        """The folder's ``example.json``."""
        ctx: dict[str, Any] = json.loads(
            (self.templates_dir / task_type / "example.json").read_text("utf-8")
        )
        return ctx

    def render_html(self, task_type: str, context: Mapping[str, Any]) -> str:
        """The worker-facing HTML page for ``context`` (see ``task_templates/README.md``)."""
        if task_type not in self.task_types():
            raise ValueError(f"unknown task type {task_type!r}; have {self.task_types()}")
        ctx = dict(context)
        item = ctx.get("item")
        loopback = self.allow_loopback_http
        if isinstance(item, Mapping) and item.get("image_src"):
            src = safe_image_src(str(item["image_src"]), allow_loopback_http=loopback)
            ctx["item"] = {**item, "image_src": src}
        ex = ctx.get("worked_example")
        if isinstance(ex, Mapping) and ex.get("image_src"):
            src = safe_image_src(str(ex["image_src"]), allow_loopback_http=loopback)
            ctx["worked_example"] = {**ex, "image_src": src}
        return self._env.get_template(f"{task_type}/template.html.j2").render(ctx)

    def render_question(self, task_type: str, context: Mapping[str, Any]) -> str:
        """``render_html`` wrapped in HTMLQuestion XML (raises QuestionTooLargeError)."""
        return html_question(self.render_html(task_type, context), self.frame_height)

    def context_for(self, view: ItemView) -> dict[str, Any]:
        """The template context for one item; unset texts come from the task's example.json."""
        defaults = self.example_context(view.task_type)
        ex = view.worked_example
        example: Mapping[str, Any] = (
            {
                "text": ex.text,
                "image_src": ex.image_src,
                "shown_label": ex.shown_label,
                "correct_label": ex.correct_label,
                "explanation": ex.explanation,
            }
            if ex
            else defaults["worked_example"]
        )
        if view.current_label not in view.options:
            raise ValueError(f"current label {view.current_label!r} is not among the options")
        return {
            "title": view.title or defaults["title"],
            "instructions": view.instructions or defaults["instructions"],
            "item": {
                "key": view.key,
                "text": view.text or "",
                "image_src": view.image_src or "",
                "fields": [{"name": n, "value": v} for n, v in view.fields],
                "fields_omitted": view.fields_omitted,
            },
            "current_label": view.current_label,
            "options": list(view.options),
            "worked_example": example,
            **dict(view.extra),
        }

    def render_item(self, view: ItemView) -> str:
        """HTMLQuestion XML for one item (the :class:`QuestionRenderer` protocol)."""
        return self.render_question(view.task_type, self.context_for(view))

    def render_pair(self, pair: PairView) -> str:
        """HTMLQuestion XML of a pair HIT (the :class:`QuestionRenderer` protocol)."""
        from orchestrator.crowd.pair_task import render_pair  # pair_task builds on this module

        return render_pair(self, pair)
