"""Start the action server's module in a fresh process, with one weights file swapped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from knowledge import settings


def import_actions_with(setting: str, path: Path) -> subprocess.CompletedProcess:
    """Import ``actions.answer`` (which loads every model and weights file) in a new interpreter.

    Args:
        setting: The ``knowledge.settings`` path to point elsewhere (``"ANSWER_GATE_PATH"``).
        path: The file it should name.

    Returns:
        The finished process, with its output captured as text.
    """
    script = (
        "from pathlib import Path\n"
        "from knowledge import settings\n"
        f"settings.{setting} = Path({str(path)!r})\n"
        "import actions.answer\n"
    )
    return subprocess.run([sys.executable, "-c", script], cwd=settings.PROJECT_DIR, capture_output=True, text=True)


def assert_start_refuses(setting: str, stale: Path, fix: str) -> None:
    """Check that a stale weights file stops the action server at start, naming the fix, and the committed one does not.

    Args:
        setting: The ``knowledge.settings`` path of the weights file.
        stale: A file learned on something else.
        fix: The command the error must name (``"make gate"``).
    """
    run = import_actions_with(setting, stale)
    assert run.returncode != 0
    assert fix in run.stderr
    ok = import_actions_with(setting, getattr(settings, setting))
    assert ok.returncode == 0, ok.stderr[-2000:]
