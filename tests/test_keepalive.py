"""Requests from the Rasa server to its endpoints reuse connections and behave as Rasa's own."""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, List

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot import keepalive, patches


class _Server:
    """A loopback HTTP server that records each request's client port, headers and query."""

    def __init__(self) -> None:
        self.seen: List[Dict[str, Any]] = []
        self.drop_next = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.drop_next:
            # Close the connection without answering, as a server does with an idle connection.
            self.drop_next -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        body = await request.json() if request.can_read_body else None
        self.seen.append({"port": peer[1], "headers": dict(request.headers), "query": dict(request.query)})
        if request.path == "/missing":
            return web.Response(status=404, text="no such action")
        if request.path == "/plain":
            return web.Response(text="not json")
        return web.json_response({"echo": body, "n": len(self.seen)})


@pytest.fixture
async def server() -> AsyncIterator[_Server]:
    patches.apply()
    fake = _Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.runner = web.AppRunner(app)
    await fake.runner.setup()
    site = web.TCPSite(fake.runner, "127.0.0.1", 0)
    await site.start()
    port = fake.runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await keepalive.close_sessions()
    await fake.runner.cleanup()


async def test_the_patch_is_installed() -> None:
    patches.apply()
    assert EndpointConfig.request is keepalive.request


async def test_successive_requests_share_one_connection(server: _Server) -> None:
    endpoint = EndpointConfig(f"{server.url}/webhook")
    first = await endpoint.request(json={"next_action": "action_answer_question"}, method="post", timeout=10)
    second = await endpoint.request(json={"next_action": "x"}, method="post", timeout=10)
    assert first == {"echo": {"next_action": "action_answer_question"}, "n": 1}
    assert second["n"] == 2
    assert server.seen[0]["port"] == server.seen[1]["port"]


async def test_headers_token_and_parameters_are_sent_as_rasa_sends_them(server: _Server) -> None:
    endpoint = EndpointConfig(f"{server.url}/webhook", params={"a": "1"}, headers={"X-Clinic": "north"}, token="s3")
    await endpoint.request(json={}, method="post", params={"b": "2"}, headers={"X-Extra": "y"})
    seen = server.seen[0]
    assert seen["query"] == {"a": "1", "b": "2", "token": "s3"}
    assert seen["headers"]["X-Clinic"] == "north" and seen["headers"]["X-Extra"] == "y"
    assert seen["headers"]["Content-Type"] == "application/json"


async def test_basic_auth_is_sent(server: _Server) -> None:
    endpoint = EndpointConfig(f"{server.url}/webhook", basic_auth={"username": "u", "password": "p"})
    await endpoint.request(json={}, method="post")
    assert server.seen[0]["headers"]["Authorization"].startswith("Basic ")


async def test_an_error_status_raises_rasas_error(server: _Server) -> None:
    endpoint = EndpointConfig(server.url)
    with pytest.raises(ClientResponseError) as error:
        await endpoint.request(subpath="missing", method="post", json={})
    assert error.value.status == 404 and b"no such action" in error.value.text


async def test_a_response_that_is_not_json_gives_none(server: _Server) -> None:
    assert await EndpointConfig(server.url).request(subpath="plain", method="get") is None


async def test_a_connection_the_server_closed_is_replaced_and_the_request_sent_again(server: _Server) -> None:
    endpoint = EndpointConfig(f"{server.url}/webhook")
    await endpoint.request(json={"turn": 1}, method="post")
    server.drop_next = 1
    reply = await endpoint.request(json={"turn": 2}, method="post")
    assert reply["echo"] == {"turn": 2}
    assert server.seen[-1]["port"] != server.seen[0]["port"]


async def test_a_server_that_keeps_closing_gives_the_error(server: _Server) -> None:
    import aiohttp

    server.drop_next = 2
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await EndpointConfig(f"{server.url}/webhook").request(json={}, method="post")


async def test_closing_leaves_no_open_session(server: _Server) -> None:
    await EndpointConfig(f"{server.url}/webhook").request(json={}, method="post")
    sessions = list(keepalive._sessions.values())
    await keepalive.close_sessions()
    assert sessions and all(s.closed for s in sessions)
    assert not keepalive._sessions


async def test_the_session_rasa_enters_stays_open_and_is_shared(server: _Server) -> None:
    endpoint = EndpointConfig(server.url)
    async with endpoint.session() as first:
        pass
    async with endpoint.session() as second:
        assert second is first and not second.closed
    async with EndpointConfig(server.url, headers={"X-Other": "1"}).session() as other:
        assert other is not first
