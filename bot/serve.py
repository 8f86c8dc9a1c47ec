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
- ``BOT_SCALE_OUT=1`` (``make run-scaled``): several Rasa workers
  (``RASA_WORKERS``, default 2) and action-server workers (``ACTION_WORKERS``,
  default 1) with ``endpoints.scaled.yml``: conversations in PostgreSQL, locks
  in Redis. ``POSTGRES_HOST``/``POSTGRES_PORT``/``POSTGRES_DB``/
  ``POSTGRES_USER``/``POSTGRES_PASSWORD`` and ``REDIS_HOST``/``REDIS_PORT``/
  ``REDIS_DB`` name existing servers; when a host is unset, a local server is
  started on loopback (``bot.services``; ports 5433 and 6380 by default).
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

from bot import services
from bot.channels.origins import configured_origins
from bot.credentials import write_runtime_credentials

PROJECT_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_MODEL = PROJECT_DIR / "models" / "imiquimod-faq.tar.gz"
STARTUP_TIMEOUT_S = 180.0
# Scaled out: the services started locally when their host is unset (port variable, host variable, default port).
LOCAL_SERVICES = [("POSTGRES_PORT", "POSTGRES_HOST", "5433"), ("REDIS_PORT", "REDIS_HOST", "6380")]


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def bot_data_dir() -> Path:
    """The folder for the conversation store and the runtime credentials (``BOT_DATA_DIR``)."""
    return Path(_env("BOT_DATA_DIR", str(PROJECT_DIR / "var"))).resolve()


def credentials_file(quiet: bool = False, environ: Optional[Dict[str, str]] = None) -> Path:
    """Write the runtime credentials (the channels that are configured) and return their path.

    Args:
        quiet: Whether to keep quiet about channels left out.
        environ: The Rasa server's environment (this process's by default);
            it names the scaled-out services, such as ``REDIS_HOST``.
    """
    source = Path(_env("BOT_CREDENTIALS", str(PROJECT_DIR / "credentials.yml")))
    return write_runtime_credentials(bot_data_dir(), source, os.environ if environ is None else environ, quiet=quiet)


def scaled_out() -> bool:
    """Whether to run several workers on PostgreSQL and Redis (``BOT_SCALE_OUT=1``)."""
    return os.environ.get("BOT_SCALE_OUT") == "1"


def endpoints_file() -> Path:
    """The endpoints the Rasa server runs with."""
    return PROJECT_DIR / ("endpoints.scaled.yml" if scaled_out() else "endpoints.yml")


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


def rasa_command(environ: Optional[Dict[str, str]] = None) -> List[str]:
    """The command line of the Rasa server.

    Args:
        environ: The environment the server will run in (this process's by default).
    """
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
        str(endpoints_file()),
        "--credentials",
        str(credentials_file(environ=environ)),
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


def _signal_group(process: subprocess.Popen, signum: int) -> bool:
    """Send a signal to a server's whole process group; False when the group is gone."""
    try:
        os.killpg(process.pid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _group_alive(process: subprocess.Popen) -> bool:
    return _signal_group(process, 0)


def stop(processes: List[subprocess.Popen], grace: float = 10.0) -> None:
    """Stop servers with SIGTERM, then SIGKILL after a grace period.

    Each server runs in its own process group (see :func:`spawn`), and the
    signal goes to the whole group, so Sanic's worker processes and
    PostgreSQL's backends stop with their parent instead of being orphaned.

    Args:
        processes: The processes to stop, in order.
        grace: Seconds to wait before killing.
    """
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(process, signal.SIGKILL)


def spawn(command: List[str], env: Dict[str, str]) -> subprocess.Popen:
    """Start a server in a process group of its own.

    Args:
        command: The command line.
        env: Its environment.

    Returns:
        The process.
    """
    return subprocess.Popen(command, cwd=PROJECT_DIR, env=env, start_new_session=True)


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


def start_backing_services(env: Dict[str, str], processes: List[subprocess.Popen]) -> None:
    """Point the scaled-out bot at PostgreSQL and Redis, starting local ones where none is named.

    Args:
        env: The servers' environment; the services' variables are added to it.
        processes: Started service processes are appended (they are stopped last).

    Raises:
        services.ServiceError: A local service did not start.
    """
    env.setdefault("POSTGRES_PASSWORD", "")
    env.setdefault("REDIS_DB", "1")
    if not os.environ.get("POSTGRES_HOST"):
        postgres = services.start_postgres(bot_data_dir(), int(_env("POSTGRES_PORT", "5433")))
        processes.append(postgres.process)
        env.update(postgres.env)
    if not os.environ.get("REDIS_HOST"):
        redis = services.start_redis(bot_data_dir(), int(_env("REDIS_PORT", "6380")))
        processes.append(redis.process)
        env.update(redis.env)
    services.create_tracker_table(env)
    print(
        f"serve: scaled out: {_env('RASA_WORKERS', '2')} Rasa workers, {_env('ACTION_WORKERS', '1')} action workers; "
        f"PostgreSQL {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}, Redis {env['REDIS_HOST']}:{env['REDIS_PORT']}",
        flush=True,
    )


def main() -> int:
    """Run both servers in the foreground until one exits or a signal arrives.

    Returns:
        The exit status.
    """
    wanted = [("RASA_PORT", "5005")] + ([] if os.environ.get("BOT_NO_ACTIONS") == "1" else [("ACTION_PORT", "5055")])
    if scaled_out():
        wanted += [(name, port) for name, host, port in LOCAL_SERVICES if not os.environ.get(host)]
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
        if scaled_out():
            try:
                start_backing_services(env, processes)
            except services.ServiceError as error:
                print(f"serve: {error}", file=sys.stderr)
                return 1
            env["SANIC_WORKERS"] = _env("RASA_WORKERS", "2")
        if os.environ.get("BOT_NO_ACTIONS") != "1":
            env_actions = dict(env, USE_TF="0", SANIC_WORKERS=_env("ACTION_WORKERS", "1"))
            actions = spawn(action_command(), env_actions)
            processes.append(actions)
            action_health = f"http://127.0.0.1:{_env('ACTION_PORT', '5055')}/health"
            if not wait_until_up(action_health, actions):
                print("serve: the action server did not start", file=sys.stderr)
                return 1
        rasa = spawn(rasa_command(env), env)
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
