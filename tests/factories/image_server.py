"""A real HTTP server on loopback that serves test images (PNG drawn with Pillow).

``serve_images(images)`` runs a ``ThreadingHTTPServer`` on ``127.0.0.1:<free port>`` for the
``with`` block. ``images`` maps a path (``/digits/3.png``) to the bytes served there. A few
paths misbehave on purpose: ``/redirect/<path>`` answers 302 to ``<path>``; ``/to-ftp`` 302 to
an ``ftp:`` URL; ``/slow.png`` trickles bytes for seconds; ``/huge.png`` sends ``huge_bytes``
bytes. Every request path is recorded in ``server.requests`` (the tests check what was fetched).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def png_bytes(value: int, *, size: int = 64, pattern: str = "square") -> bytes:
    """A grey PNG of ``size``×``size`` pixels: a dark ``pattern`` on white (value 0-255)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    if pattern == "square":
        draw.rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=value)
    else:
        draw.ellipse((size // 8, size // 8, 7 * size // 8, 7 * size // 8), fill=value)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@dataclass
class ImageServer:
    base_url: str
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.images`` (see the module docstring for the misbehaving paths)."""

    server: _Server

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes = b"", ctype: str = "image/png") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _stream(self, chunks: int, chunk: bytes, pause_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()  # no Content-Length: the reader must count and time
        try:
            for _ in range(chunks):
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(pause_s)
        except OSError:
            pass

    def do_GET(self) -> None:
        self.server.state.requests.append(self.path)
        if self.path.startswith("/redirect/"):
            self._redirect(self.path[len("/redirect") :])
        elif self.path == "/to-ftp":
            self._redirect("ftp://127.0.0.1/a.png")
        elif self.path == "/slow.png":
            self._stream(40, b"\0" * 16, 0.1)
        elif self.path == "/huge.png":
            self._stream(self.server.huge_bytes // 65536 + 1, b"\0" * 65536, 0.0)
        elif self.path in self.server.images:
            self._send(200, self.server.images[self.path])
        else:
            self._send(404, b"not found", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, images: Mapping[str, bytes], huge_bytes: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.images = dict(images)
        self.huge_bytes = huge_bytes
        self.state = ImageServer(base_url=f"http://127.0.0.1:{self.server_address[1]}")


@contextmanager
def serve_images(
    images: Mapping[str, bytes], *, huge_bytes: int = 2 << 20
) -> Iterator[ImageServer]:
    """The server for the ``with`` block (see the module docstring)."""
    server = _Server(images, huge_bytes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
