"""Local PostgreSQL and Redis for running the bot scaled out on one machine.

Several Rasa workers need a conversation store they all share and a lock
store so that one conversation's turns never run in two workers at once:
PostgreSQL for the conversations and Redis for the locks, as
``endpoints.scaled.yml`` says. In production these are managed services,
named by ``POSTGRES_HOST`` and ``REDIS_HOST``; when those are unset,
``bot.serve`` starts local ones through this module, on loopback only:

- PostgreSQL: a cluster of its own (``initdb``) in ``BOT_DATA_DIR/postgres``,
  so conversations survive a restart. PostgreSQL refuses to run as root, so
  under root its programs run as the ``postgres`` system user.
- Redis: an in-memory server with persistence off; locks live for seconds.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

POSTGRES_USER = "rasa"
POSTGRES_DB = "rasa"
READY_TIMEOUT_S = 60.0


class ServiceError(RuntimeError):
    """A local service could not be started."""


@dataclass
class Service:
    """A started service and the variables that point the bot at it.

    Attributes:
        name: For messages.
        process: The server process.
        env: Environment variables for ``endpoints.scaled.yml``.
    """

    name: str
    process: subprocess.Popen
    env: Dict[str, str] = field(default_factory=dict)


def _postgres_bin(program: str) -> str:
    """Find a PostgreSQL server program (they are not on PATH in Debian's packages)."""
    packaged = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), reverse=True)
    found = shutil.which(program) or (packaged[0] if packaged else None)
    if not found:
        raise ServiceError(
            f"PostgreSQL's {program} was not found; install PostgreSQL (e.g. apt-get install postgresql) "
            "or set POSTGRES_HOST to use an existing server."
        )
    return found


def _as_postgres_user(command: List[str]) -> List[str]:
    """Run a PostgreSQL program as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _usable_by_postgres(path: Path) -> bool:
    """Create ``path`` for the ``postgres`` user and tell whether that user can reach and write it."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, "postgres", "postgres")
    path.chmod(0o700)
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(path)], capture_output=True)
    return probe.returncode == 0


def postgres_data_dir(data_dir: Path) -> Path:
    """Where the local cluster lives: ``data_dir/postgres``.

    Under root, when the ``postgres`` user cannot reach the project folder
    (a home folder closed to other users), the cluster gets a folder of its
    own in ``/var/tmp`` instead.

    Args:
        data_dir: The bot's data folder.

    Returns:
        The cluster's folder.
    """
    wanted = data_dir / "postgres"
    if os.geteuid() != 0 or _usable_by_postgres(wanted):
        return wanted
    digest = hashlib.sha256(str(wanted.resolve()).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp") / f"imiquimod-faq-postgres-{digest}"
    if not _usable_by_postgres(fallback):
        raise ServiceError(f"the postgres user cannot write {wanted} or {fallback}")
    return fallback


def _log(data_dir: Path, name: str):  # type: ignore[no-untyped-def]
    """Open a service's log file in the bot's data folder (appending)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return (data_dir / name).open("ab")


def _wait(check, what: str, process: subprocess.Popen, timeout: float = READY_TIMEOUT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Optional[Exception] = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{what} exited with status {process.returncode}")
        try:
            check()
            return
        except Exception as error:  # noqa: BLE001 - any failure means "not ready yet"
            last = error
            time.sleep(0.2)
    raise ServiceError(f"{what} was not ready after {timeout:.0f} s: {last}")


def start_postgres(data_dir: Path, port: int) -> Service:
    """Start (initialising on first use) a PostgreSQL cluster on loopback.

    Args:
        data_dir: The bot's data folder.
        port: The TCP port on 127.0.0.1.

    Returns:
        The running service; its ``env`` names host, port, database and user.

    Raises:
        ServiceError: PostgreSQL is missing or did not start.
    """
    cluster = postgres_data_dir(data_dir)
    if not (cluster / "PG_VERSION").exists():
        cluster.mkdir(parents=True, exist_ok=True)
        cluster.chmod(0o700)
        init = subprocess.run(
            _as_postgres_user(
                [_postgres_bin("initdb"), "-D", str(cluster), "-U", POSTGRES_USER, "--auth=trust", "-E", "UTF8"]
            ),
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            raise ServiceError(f"initdb failed: {init.stderr.strip()[-500:]}")
    socket_dir = cluster  # the socket stays private to the cluster's folder
    process = subprocess.Popen(
        _as_postgres_user(
            [
                _postgres_bin("postgres"),
                "-D",
                str(cluster),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={socket_dir}",
                "-c",
                "max_connections=100",
            ]
        ),
        stdout=_log(data_dir, "postgres.log"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # bot.serve stops the whole group
    )

    def ready() -> None:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user=POSTGRES_USER, dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (POSTGRES_DB,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE {POSTGRES_DB}")
        finally:
            connection.close()

    _wait(ready, "PostgreSQL", process)
    return Service(
        "postgresql",
        process,
        {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(port),
            "POSTGRES_DB": POSTGRES_DB,
            "POSTGRES_USER": POSTGRES_USER,
            "POSTGRES_PASSWORD": "",
        },
    )


def start_redis(data_dir: Path, port: int) -> Service:
    """Start an in-memory Redis on loopback for Rasa's lock store.

    Args:
        data_dir: The bot's data folder (for ``redis.log``).
        port: The TCP port on 127.0.0.1.

    Returns:
        The running service; its ``env`` names host and port.

    Raises:
        ServiceError: redis-server is missing or did not start.
    """
    program = shutil.which("redis-server")
    if not program:
        raise ServiceError("redis-server was not found; install it (apt-get install redis-server) or set REDIS_HOST.")
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=_log(data_dir, "redis.log"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # bot.serve stops the whole group
    )

    def ready() -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()

    _wait(ready, "Redis", process)
    return Service("redis", process, {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)})


def create_tracker_table(env: Dict[str, str]) -> None:
    """Create Rasa's ``events`` table once, before several workers would race to create it.

    Args:
        env: The ``POSTGRES_*`` variables.
    """
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    url = sa.engine.URL.create(
        "postgresql",
        username=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD") or None,
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        database=env["POSTGRES_DB"],
    )
    engine = sa.create_engine(url)
    try:
        SQLTrackerStore.Base.metadata.create_all(engine)
    finally:
        engine.dispose()
