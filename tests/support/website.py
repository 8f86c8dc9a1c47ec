"""A stand-in for a clinic's own website: one HTML page on loopback that embeds the widget."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Type


def clinic_page(bot_url: str) -> str:
    """The page a clinic would write: its own content plus the README's embedding snippet."""
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example clinic</title></head>
<body><h1>Example clinic</h1><p>Our own page, on our own origin.</p>
<script src="{bot_url}/webhooks/widget/widget.js" defer></script>
</body></html>
"""


def clinic_csp(bot_url: str) -> str:
    """The Content-Security-Policy the README tells clinics to allow for the widget."""
    ws_url = bot_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return (
        f"default-src 'self'; script-src 'self' {bot_url}; style-src 'self' {bot_url}; "
        f"connect-src 'self' {bot_url} {ws_url}; img-src 'self'; object-src 'none'; base-uri 'none'"
    )


class StaticSite:
    """Serve one HTML page at ``/`` on ``127.0.0.1:port`` from a background thread."""

    def __init__(self, port: int, html: str, headers: Dict[str, str]) -> None:
        """Start serving.

        Args:
            port: The loopback port.
            html: The page.
            headers: Extra response headers (e.g. a Content-Security-Policy).
        """
        self.url = f"http://127.0.0.1:{port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(html.encode(), headers))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _handler(body: bytes, headers: Dict[str, str]) -> Type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler
