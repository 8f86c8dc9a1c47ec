"""The labelled patient-message set and its fixed hold-out split.

The hold-out part is drawn once, at random with a fixed seed, stratified by
kind. It is never used to author phrasings, red-flag rules or thresholds; its
figures are the honest ones.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

LABELLED_PATH: Path = Path(__file__).resolve().parent.parent / "data" / "labelled.yml"
HOLDOUT_SEED: int = 20261125
HOLDOUT_FRACTION: float = 0.35
KINDS = ("answer", "escalate", "benign", "decline", "follow_up")


def load_labelled(split: Optional[str] = None) -> List[Dict[str, Any]]:
    """Load the labelled messages.

    Args:
        split: ``"holdout"``, ``"tuning"`` or None for all.

    Returns:
        The messages, each a dict with ``id``, ``kind`` and its labels, plus
        ``split``.
    """
    with LABELLED_PATH.open(encoding="utf-8") as handle:
        messages: List[Dict[str, Any]] = yaml.safe_load(handle)["messages"]
    holdout = holdout_ids(messages)
    for message in messages:
        message["split"] = "holdout" if message["id"] in holdout else "tuning"
    if split is None:
        return messages
    return [m for m in messages if m["split"] == split]


def holdout_ids(messages: List[Dict[str, Any]]) -> set:
    """Draw the hold-out ids: a fixed-seed random sample of each kind, batch by batch.

    Messages written later carry ``batch: N``; each batch is drawn with its
    own seed, so adding a batch never moves a message of an earlier batch
    between the parts (batch 1, the messages without ``batch``, keeps the
    draw it always had).

    Args:
        messages: All labelled messages.

    Returns:
        The ids in the hold-out part.
    """
    chosen: set = set()
    for batch in sorted({int(m.get("batch", 1)) for m in messages}):
        rng = random.Random(HOLDOUT_SEED if batch == 1 else f"{HOLDOUT_SEED}-batch-{batch}")
        in_batch = [m for m in messages if int(m.get("batch", 1)) == batch]
        for kind in KINDS:
            ids = sorted(m["id"] for m in in_batch if m["kind"] == kind)
            chosen.update(rng.sample(ids, round(len(ids) * HOLDOUT_FRACTION)))
    return chosen
