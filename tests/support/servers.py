"""Start the project's own servers for tests, with ``python -m bot.serve``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

PROJECT_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningBot:
    """A ``bot.serve`` process and where to reach it."""

    process: subprocess.Popen
    rasa_port: int
    action_port: int
    log_path: Path
    data_dir: Path

    @property
    def url(self) -> str:
        """The Rasa server's base URL."""
        return f"http://127.0.0.1:{self.rasa_port}"

    def log(self) -> str:
        """Everything both servers have logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """Stop both servers with SIGTERM, as Ctrl-C would, and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_bot(
    data_dir: Path,
    log_path: Path,
    with_actions: bool = True,
    rasa_port: Optional[int] = None,
    extra_env: Optional[Dict[str, str]] = None,
    timeout: float = 240.0,
) -> RunningBot:
    """Start the bot and wait until it says it is ready.

    Args:
        data_dir: Folder for the SQLite conversation store.
        log_path: File that receives both servers' output.
        with_actions: Whether to start the action server too.
        rasa_port: Port for the Rasa server; a free one by default.
        extra_env: More environment variables.
        timeout: Seconds to wait for readiness.

    Returns:
        The running bot.

    Raises:
        RuntimeError: The bot did not become ready.
    """
    rasa_port = rasa_port or free_port()
    action_port = free_port()
    # Telegram is on only when a test asks for it (and points it at a fake Bot API).
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELEGRAM_")}
    env.update(
        {
            "RASA_PORT": str(rasa_port),
            "ACTION_PORT": str(action_port),
            "BOT_DATA_DIR": str(data_dir),
            "BOT_NO_ACTIONS": "0" if with_actions else "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    offset = log_path.stat().st_size if log_path.exists() else 0
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.serve"], cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    bot = RunningBot(process, rasa_port, action_port, log_path, data_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "serve: ready" in bot.log()[offset:]:
            return bot
        if process.poll() is not None:
            break
        time.sleep(0.5)
    bot.stop()
    raise RuntimeError(f"bot did not start; log tail:\n{bot.log()[-3000:]}")
