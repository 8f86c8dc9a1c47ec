"""The launcher refuses to start on a busy port rather than talking to another server."""

from __future__ import annotations

import socket

import pytest

from bot import serve


def test_port_in_use_detects_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert serve.port_in_use(listener.getsockname()[1])


def test_launcher_refuses_a_busy_port(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("RASA_PORT", str(listener.getsockname()[1]))
        monkeypatch.setenv("BOT_NO_ACTIONS", "1")
        assert serve.main() == 1
    assert "port already in use" in capsys.readouterr().err
