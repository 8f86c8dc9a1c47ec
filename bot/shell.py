"""The pharmacists' shell: ``rasa shell`` against the same bot (``make shell``).

Starts an action server on ``ACTION_PORT`` (the Makefile picks 5056 so a
running ``make run`` is not disturbed), then ``rasa shell`` in the foreground
with the same model, endpoints and conversation store. Each answer shows its
leaflet section. Quit with ``/stop`` or Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bot.serve import (
    DEFAULT_MODEL,
    PROJECT_DIR,
    VENV_BIN,
    _env,
    action_command,
    credentials_file,
    server_env,
    stop,
    wait_until_up,
)


def main() -> int:
    """Run the shell until the pharmacist quits.

    Returns:
        The exit status of ``rasa shell``.
    """
    env = server_env()
    actions = subprocess.Popen(action_command(), cwd=PROJECT_DIR, env=dict(env, USE_TF="0"))
    try:
        if not wait_until_up(f"http://127.0.0.1:{_env('ACTION_PORT', '5055')}/health", actions):
            print("shell: the action server did not start", file=sys.stderr)
            return 1
        command = [
            str(VENV_BIN / "rasa"),
            "shell",
            "--model",
            _env("BOT_MODEL", str(DEFAULT_MODEL)),
            "--endpoints",
            str(PROJECT_DIR / "endpoints.yml"),
            # rasa shell reads the whole credentials file (only to build its
            # command-line channel), and Rasa stops on an unset ${VAR} there.
            "--credentials",
            str(credentials_file(quiet=True)),
            "--port",
            _env("RASA_PORT", "5006"),
        ]
        return subprocess.call(command, cwd=PROJECT_DIR, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        stop([actions])


if __name__ == "__main__":
    os.chdir(PROJECT_DIR)
    sys.exit(main())
