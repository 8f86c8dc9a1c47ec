"""Debian's Chromium under Playwright, and a record of everything a page does on the network.

Never ``playwright install``: the tests drive ``/usr/bin/chromium``
(``apt-get install chromium``, as ``.ci/run`` does).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import List

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Response, Route

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def launch(playwright: Playwright) -> Browser:
    """Start headless Chromium from Debian's package."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)


def is_local(url: str) -> bool:
    """Whether a URL stays on this machine (loopback, or no network at all: data:, blob:, about:)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return (parsed.hostname or "") in LOCAL_HOSTS


@dataclass
class PageWatch:
    """Everything a browser context did that a test may want to assert on.

    Attributes:
        requests: Every request URL (HTTP and WebSocket), in order.
        blocked: Requests to other machines; they were recorded and aborted.
        dialogs: Messages of ``alert``/``confirm``/``prompt`` dialogs (dismissed).
        errors: Uncaught page errors and console errors.
        responses: Every HTTP response, to inspect headers afterwards.
    """

    requests: List[str] = field(default_factory=list)
    blocked: List[str] = field(default_factory=list)
    dialogs: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    responses: List[Response] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        """Record (and keep on this machine) everything pages of ``context`` do."""
        context.route("**/*", self._route)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("response", lambda response: self.responses.append(response))
        context.on("page", self.watch_page)
        for page in context.pages:
            self.watch_page(page)

    def watch_page(self, page: Page) -> None:
        """Record one page's WebSockets, dialogs and errors."""
        page.on("websocket", lambda socket: self.requests.append(socket.url))
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

    def _route(self, route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(getattr(dialog, "message", "?"))
        dialog.dismiss()  # type: ignore[attr-defined]

    def outside(self) -> List[str]:
        """Requests that would have left the machine."""
        return self.blocked + [url for url in self.requests if not is_local(url)]
