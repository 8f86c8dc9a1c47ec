"""Start the action server and the Rasa server together, and stop them together.

``make run`` calls ``python -m bot.serve``; the end-to-end tests start the very
same command on spare ports. Settings come from environment variables:

- ``RASA_HOST`` (default ``127.0.0.1``) and ``RASA_PORT`` (``5005``): the Rasa
  server with the REST channel and the HTTP API.
- ``ACTION_PORT`` (``5055``): the action server, on loopback only.
- ``BOT_DATA_DIR`` (``var/``): the SQLite conversation store lives here.
- ``BOT_MODEL`` (``models/imiquimod-faq.tar.gz``): the trained model.
- ``RASA_API_TOKEN``: if set, the HTTP API requires it.
- ``CORS_ORIGINS``: space-separated origins allowed to call the server from
  a browser (sites that embed the widget); ``*`` is never passed on (see
  ``bot.channels.origins``).
- ``BOT_NO_ACTIONS=1``: start only the Rasa server (used to test escalation
  with the action server down).
- ``BOT_CREDENTIALS`` (``credentials.yml``): the channels. A channel whose
  section names an unset ``${VAR}`` is left out and the others are served
  (see ``bot.credentials``); e.g. Telegram is on only with ``TELEGRAM_TOKEN``,
  ``TELEGRAM_BOT_USERNAME``, ``TELEGRAM_WEBHOOK_URL`` and ``TELEGRAM_SECRET_TOKEN``.

Ctrl-C or SIGTERM stops both processes cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional

from bot.channels.origins import configured_origins
from bot.credentials import write_runtime_credentials

PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_MODEL = PROJECT_DIR / "models" / "imiquimod-faq.tar.gz"
STARTUP_TIMEOUT_S = 180.0


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def bot_data_dir() -> Path:
    """The folder for the conversation store and the runtime credentials (``BOT_DATA_DIR``)."""
    return Path(_env("BOT_DATA_DIR", str(PROJECT_DIR / "var"))).resolve()


def credentials_file(quiet: bool = False) -> Path:
    """Write the runtime credentials (the channels that are configured) and return their path.

    Args:
        quiet: Whether to keep quiet about channels left out.
    """
    source = Path(_env("BOT_CREDENTIALS", str(PROJECT_DIR / "credentials.yml")))
    return write_runtime_credentials(bot_data_dir(), source, quiet=quiet)


def server_env() -> Dict[str, str]:
    """Return the environment both servers run with.

    Returns:
        A copy of this process's environment plus the bot's settings.
    """
    data_dir = bot_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{_env('ACTION_PORT', '5055')}/webhook",
            "TRACKER_DB": str(data_dir / "tracker.db"),
            "SANIC_HOST": "127.0.0.1",
            "RASA_TELEMETRY_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")])),
        }
    )
    return env


def action_command() -> List[str]:
    """The command line of the action server."""
    return [
        str(VENV_BIN / "rasa"),
        "run",
        "actions",
        "--actions",
        "actions",
        "--port",
        _env("ACTION_PORT", "5055"),
    ]


def rasa_command() -> List[str]:
    """The command line of the Rasa server."""
    command = [
        str(VENV_BIN / "rasa"),
        "run",
        "--enable-api",
        "--interface",
        _env("RASA_HOST", "127.0.0.1"),
        "--port",
        _env("RASA_PORT", "5005"),
        "--model",
        _env("BOT_MODEL", str(DEFAULT_MODEL)),
        "--endpoints",
        str(PROJECT_DIR / "endpoints.yml"),
        "--credentials",
        str(credentials_file()),
    ]
    if os.environ.get("RASA_API_TOKEN"):
        command += ["--auth-token", os.environ["RASA_API_TOKEN"]]
    origins = configured_origins()
    if origins:
        command += ["--cors", *origins]
    return command


def _model_loaded(body: bytes) -> bool:
    """Whether Rasa's /status body says a model is loaded."""
    try:
        return bool(json.loads(body).get("model_id"))
    except ValueError:
        return False


def wait_until_up(
    url: str,
    process: subprocess.Popen,
    timeout: float = STARTUP_TIMEOUT_S,
    ready: Callable[[bytes], bool] = lambda body: True,
) -> bool:
    """Poll a URL until it answers 200 and looks ready, the process dies or time runs out.

    Args:
        url: The health or status URL.
        process: The server process.
        timeout: Seconds to wait.
        ready: Extra check on the response body.

    Returns:
        Whether the server came up.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and ready(response.read()):
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def stop(processes: List[subprocess.Popen], grace: float = 10.0) -> None:
    """Stop processes with SIGTERM, then SIGKILL after a grace period.

    Args:
        processes: The processes to stop, in order.
        grace: Seconds to wait before killing.
    """
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on a TCP port.

    Args:
        port: The port.
        host: The interface to try.

    Returns:
        True when the port cannot be bound.
    """
    with socket.socket() as sock:
        # Like the servers themselves: connections in TIME_WAIT do not block a restart.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def main() -> int:
    """Run both servers in the foreground until one exits or a signal arrives.

    Returns:
        The exit status.
    """
    wanted = [("RASA_PORT", "5005")] + ([] if os.environ.get("BOT_NO_ACTIONS") == "1" else [("ACTION_PORT", "5055")])
    busy = [f"{name}={_env(name, default)}" for name, default in wanted if port_in_use(int(_env(name, default)))]
    if busy:
        print(f"serve: port already in use ({', '.join(busy)}); is the bot already running?", file=sys.stderr)
        return 1
    env = server_env()
    processes: List[subprocess.Popen] = []
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: Optional[object]) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rasa_port = _env("RASA_PORT", "5005")
    try:
        if os.environ.get("BOT_NO_ACTIONS") != "1":
            env_actions = dict(env, USE_TF="0")
            actions = subprocess.Popen(action_command(), cwd=PROJECT_DIR, env=env_actions)
            processes.append(actions)
            action_health = f"http://127.0.0.1:{_env('ACTION_PORT', '5055')}/health"
            if not wait_until_up(action_health, actions):
                print("serve: the action server did not start", file=sys.stderr)
                return 1
        rasa = subprocess.Popen(rasa_command(), cwd=PROJECT_DIR, env=env)
        processes.append(rasa)
        token = os.environ.get("RASA_API_TOKEN")
        status_url = f"http://127.0.0.1:{rasa_port}/status" + (f"?token={token}" if token else "")
        if not wait_until_up(status_url, rasa, ready=_model_loaded):
            print("serve: the Rasa server did not start", file=sys.stderr)
            return 1
        host = _env("RASA_HOST", "127.0.0.1")
        print(f"serve: ready. REST: http://{host}:{rasa_port}/webhooks/rest/webhook", flush=True)
        print(f"serve: widget demo page: http://{host}:{rasa_port}/webhooks/widget/", flush=True)
        while not stopping["flag"]:
            if any(p.poll() is not None for p in processes):
                print("serve: a server exited; stopping the other", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        stop(list(reversed(processes)))
        print("serve: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
