"""Inspect how the bot treats one message: ``python -m knowledge.ask "question"``.

Prints the red-flag screen's verdict and why, the intent NLU predicts, the
top passages with their scores and sections, and the reply the bot would
choose. NLU comes from the running Rasa server when one answers at
``RASA_URL`` (default ``http://127.0.0.1:5005``), otherwise from the trained
model on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

os.environ.setdefault("USE_TF", "0")

from bot import redflags  # noqa: E402
from bot.names import ESCALATION_INTENT, ESCALATION_RESPONSE, OUT_OF_SCOPE_INTENT  # noqa: E402
from bot.serve import DEFAULT_MODEL as MODEL_PATH  # noqa: E402
from knowledge import settings  # noqa: E402
from knowledge.lexicon import gloss  # noqa: E402
from knowledge.settings import PROJECT_DIR  # noqa: E402

CHITCHAT_RULES_PATH: Path = PROJECT_DIR / "bot" / "rules" / "chitchat.yml"


@cache
def rule_replies(path: Path = CHITCHAT_RULES_PATH) -> Dict[str, str]:
    """Read the fixed replies the dialogue rules give each chit-chat intent.

    Args:
        path: The Rasa rules file of the chit-chat intents.

    Returns:
        Intent name -> the response actions it gets, comma-separated
        (``{"greet": "utter_greet, utter_disclaimer", ...}``).
    """
    with path.open(encoding="utf-8") as handle:
        rules = (yaml.safe_load(handle) or {}).get("rules") or []
    replies: Dict[str, str] = {}
    for rule in rules:
        steps = rule.get("steps") or []
        if len(steps) > 1 and "intent" in steps[0] and all("action" in step for step in steps[1:]):
            replies[steps[0]["intent"]] = ", ".join(step["action"] for step in steps[1:])
    return replies


def parse_with_server(text: str, base_url: str) -> Optional[Dict[str, Any]]:
    """Ask a running Rasa server to parse the text, or return None."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/model/parse",
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def parse_with_model(text: str) -> Optional[Dict[str, Any]]:
    """Parse the text with the trained model on disk, or return None."""
    if not MODEL_PATH.exists():
        return None
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL_PATH))
    return asyncio.run(agent.parse_message(text))


def reply_actions(intent: Optional[str], escalated: bool, answered: Sequence[str]) -> List[Optional[str]]:
    """The responses the dialogue rules send for one message, in order.

    Args:
        intent: The intent NLU gave the message.
        escalated: Whether it was escalated (by NLU or the red-flag screen).
        answered: The passages ``action_answer_question`` gave it.

    Returns:
        The response actions: ``utter_contact_provider`` first when
        escalated; a chit-chat intent's fixed replies; otherwise None for
        each passage sent, or the decline when there was none.
    """
    actions: List[Optional[str]] = [ESCALATION_RESPONSE] if escalated else []
    fixed = rule_replies()
    if intent in fixed and not escalated:
        return actions + list(fixed[intent].split(", "))
    actions += [None] * len(answered)
    if not answered and not escalated:
        actions.append("utter_out_of_scope" if intent == OUT_OF_SCOPE_INTENT else "utter_no_answer")
    return actions


def describe(text: str, previous: Optional[str], parse: Optional[Dict[str, Any]]) -> List[str]:
    """Build the report lines for one message.

    Args:
        text: The message.
        previous: An optional previous question, to inspect a follow-up.
        parse: NLU's parse of the message, if available.

    Returns:
        Printable lines.
    """
    from actions.answer import decide_for_turn

    screen = redflags.screen(text)
    lines = [
        f"message:    {text!r}",
        f"escalate:   {'YES' if screen.escalate else 'no'} - {screen.explain()}",
    ]
    intent = (parse or {}).get("intent", {}).get("name")
    if parse:
        confidence = parse.get("intent", {}).get("confidence", 0.0)
        lines.append(f"nlu intent: {intent} ({confidence:.2f})")
        flag = parse.get("red_flag") or {}
        if flag.get("escalate") and not screen.escalate:
            lines.append("            (escalated by the intent classifier, not by a rule)")
    else:
        lines.append("nlu intent: unavailable (no running server and no trained model)")
    escalated = screen.escalate or intent == ESCALATION_INTENT
    glossed = gloss(text)
    if glossed != text:
        lines.append(f"searched as: {glossed!r} (knowledge/lexicon.yml)")
    decision = decide_for_turn(text, previous, [], escalated, intent == OUT_OF_SCOPE_INTENT)
    if decision.standalone:
        lines.append(f"follow-up read as: {decision.standalone!r}")
    lines.append("top passages:")
    for hit in decision.ranking:
        lines.append(f"  {hit.score:.3f}  {hit.passage.id:<22} [{hit.passage.title}]")
        lines.append(f"         matched: {hit.matched[:90]!r}")
    if decision.unanswerable_match:
        lines.append(f"closest unanswerable question: {decision.unanswerable_match!r}")
    if decision.gate_probability is not None:
        verdict = "answer" if decision.answered else "decline"
        rules = "answer" if decision.rules_answered else "decline"
        lines.append(
            f"answer gate: {decision.gate_probability:.2f} -> {verdict}"
            f" (threshold {settings.ANSWER_GATE_THRESHOLD}; the threshold rules alone: {rules})"
        )
    answered = [h.passage.id for h in decision.answer]
    passages = iter(answered)
    replies = [action or f"passage {next(passages)}" for action in reply_actions(intent, escalated, answered)]
    lines.append(f"bot reply:  {', '.join(replies)}")
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    """Run the inspection command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("message", help="the patient message to inspect")
    parser.add_argument("--previous", help="a previous question, to inspect a follow-up")
    args = parser.parse_args(argv)
    if not args.message.strip():
        parser.error("give a non-empty message")
    parse = parse_with_server(args.message, os.environ.get("RASA_URL", "http://127.0.0.1:5005"))
    if parse is None:
        parse = parse_with_model(args.message)
    print("\n".join(describe(args.message, args.previous, parse)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
