"""Write the credentials file the Rasa server reads: only the channels that are configured.

``credentials.yml`` names environment variables in two ways:

- ``${NAME}``: required. A channel whose section names an unset (or empty)
  required variable is left out, so the other channels still start
  (Rasa itself stops on an unset variable).
- ``${NAME:-default}``: optional; ``default`` when the variable is unset.

The written file keeps ``${NAME}`` for the variables that are set, so Rasa
fills them in from the environment and no secret is written to disk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
SOURCE = PROJECT_DIR / "credentials.yml"
RUNTIME_NAME = "credentials.runtime.yml"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")
_HEADER = "# Written at startup by bot/credentials.py from credentials.yml: edit that file instead.\n"


@dataclass
class Channels:
    """The channels to serve, and those left out.

    Attributes:
        serve: Channel sections for the Rasa server, by channel name.
        off: For each channel left out, the required variables that are not set.
    """

    serve: Dict[str, Any] = field(default_factory=dict)
    off: Dict[str, List[str]] = field(default_factory=dict)


def _resolve(value: Any, environ: Mapping[str, str], missing: List[str]) -> Any:
    """Apply optional defaults in one setting and collect unset required variables."""
    if isinstance(value, dict):
        return {key: _resolve(item, environ, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, environ, missing) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        name, optional, default = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return "${" + name + "}"
        if optional is not None:
            return default
        missing.append(name)
        return match.group(0)

    return _REFERENCE.sub(replace, value)


def select_channels(credentials: Mapping[str, Any], environ: Mapping[str, str]) -> Channels:
    """Decide which channels to serve with this environment.

    Args:
        credentials: ``credentials.yml`` as read, without variable expansion.
        environ: The environment.

    Returns:
        The channels to serve, and the ones left out with the reason.
    """
    channels = Channels()
    for name, settings in credentials.items():
        missing: List[str] = []
        resolved = _resolve(settings, environ, missing)
        if missing:
            channels.off[name] = sorted(set(missing))
        else:
            channels.serve[name] = resolved
    return channels


def write_runtime_credentials(
    data_dir: Path, source: Path = SOURCE, environ: Mapping[str, str] = os.environ, quiet: bool = False
) -> Path:
    """Write the runtime credentials file into the data folder.

    Args:
        data_dir: Where to write it (``BOT_DATA_DIR``).
        source: The credentials file to read.
        environ: The environment.
        quiet: Whether to keep quiet about channels left out.

    Returns:
        The path of the written file, for ``rasa run --credentials``.
    """
    credentials = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    channels = select_channels(credentials, environ)
    if not quiet:
        for name, missing in channels.off.items():
            print(f"serve: channel {name} is off; not set: {', '.join(missing)}", flush=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / RUNTIME_NAME
    partial = target.with_name(f".{RUNTIME_NAME}.{os.getpid()}")
    partial.write_text(_HEADER + yaml.safe_dump(channels.serve, default_flow_style=False, sort_keys=False), "utf-8")
    os.chmod(partial, 0o600)
    os.replace(partial, target)
    return target
