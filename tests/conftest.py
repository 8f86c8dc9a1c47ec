"""Shared fixtures: the real bot, started by the project's own launcher."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.botclient import BotClient
from tests.support.servers import RunningBot, start_bot

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("USE_TF", "0")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """Both servers, as ``make run`` starts them, on free ports."""
    ARTIFACTS.mkdir(exist_ok=True)
    data_dir = tmp_path_factory.mktemp("bot-data")
    bot = start_bot(data_dir, ARTIFACTS / "bot-server.log")
    yield bot
    assert bot.stop() == 0, "the servers did not stop cleanly on SIGTERM"


@pytest.fixture(scope="session")
def bot(running_bot: RunningBot) -> BotClient:
    """A client of the running bot."""
    return BotClient(running_bot.url)
