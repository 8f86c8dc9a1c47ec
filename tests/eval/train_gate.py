"""``make gate``: learn whether to answer a message read in context.

Plays every two-turn conversation of the tuning part of the labelled set
(never the hold-out part) as the bot does, with the trained model's intents
and the gate off, and describes the second message's decision with
``knowledge.gate.gate_features``. A follow-up the leaflet answers is a
positive row, a question in context it does not answer a negative one.
Writes a logistic regression over the standardised features to
``knowledge/answer_gate.json``.

``--cross-validate`` first prints what the gate would do on conversations it
was not fitted on: the follow-ups of each group of batches scored by a gate
fitted on the others (the declines in context, all written in one batch, are
spread over the groups at random, for three draws), next to the threshold
rules alone.

Run it after ``make reranker`` or any change to the index: the gate reads the
scorer's choice and the index's scores.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.serve import DEFAULT_MODEL
from knowledge import settings
from knowledge.gate import FEATURES, AnswerGate, gate_features
from tests.support.labelled import load_labelled
from tests.support.replay import intents_from_model, replay_conversation

# Inverse regularisation of the standardised weights (session 11: 0.1 and
# 0.3 scored alike in cross-validation, 1 and 10 gave fewer declines).
GATE_C: float = 0.1
# Groups of batches for cross-validation, each about a sixth of the follow-ups
# (None: the first batch, written before batches were numbered).
GROUPED_BATCHES: Tuple[Tuple[Optional[int], ...], ...] = ((None,), (2, 3, 4, 5, 6, 7), (8, 9), (10, 11), (12,), (13,))
BATCH_GROUPS: Dict[Optional[int], int] = {b: g for g, group in enumerate(GROUPED_BATCHES) for b in group}
FOLDS = len(GROUPED_BATCHES)


@dataclass
class Row:
    """One conversation's second message, described for the gate.

    Attributes:
        x: Its features.
        answerable: Whether the leaflet answers it (a follow-up).
        passage_right: Whether the scorer's passage is one it expects.
        batch: The batch it was written in.
    """

    x: np.ndarray
    answerable: bool
    passage_right: bool
    batch: Optional[int]

    @property
    def rules_right(self) -> bool:
        """Whether the threshold rules alone got it right."""
        return _right(self, bool(self.x[FEATURES.index("answered")]))


def rows(messages: Sequence[Dict]) -> List[Row]:
    """Describe the tuning conversations' second messages.

    Args:
        messages: Labelled messages; only two-turn follow-ups and declines are used.

    Returns:
        One row per second message that was read in context and not escalated.
    """
    conversations = [m for m in messages if m.get("turns") and m["kind"] in ("follow_up", "decline")]
    intents = intents_from_model([t for m in conversations for t in m["turns"]], str(DEFAULT_MODEL))
    out = []
    for message in conversations:
        replayed = replay_conversation(message["turns"], intents.__getitem__)
        if replayed.decision is None or replayed.turn.escalated:
            continue
        x = gate_features(replayed.decision, message["turns"][-1])
        if x is None:
            continue
        expect = set(message.get("expect") or [])
        out.append(
            Row(
                x=x,
                answerable=message["kind"] == "follow_up",
                passage_right=replayed.decision.ranking[0].passage.id in expect,
                batch=message.get("batch"),
            )
        )
    return out


def fit(train: Sequence[Row], c: float = GATE_C) -> AnswerGate:
    """Fit the gate on rows.

    Args:
        train: The rows.
        c: Inverse regularisation.

    Returns:
        The gate.
    """
    x = np.array([r.x for r in train])
    y = np.array([r.answerable for r in train], dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit((x - mean) / scale, y)
    return AnswerGate(
        mean=mean, scale=scale, weights=model.coef_[0], bias=float(model.intercept_[0]), features=list(FEATURES)
    )


def _right(row: Row, answer: bool) -> bool:
    """Whether answering (or declining) the row is right: the scorer's passage for a follow-up, else a decline."""
    return answer and row.passage_right if row.answerable else not answer


def cross_validate(data: Sequence[Row], draws: int = 3) -> Tuple[float, float, int, int]:
    """Score gates on rows they were not fitted on.

    Args:
        data: The rows.
        draws: How many random spreads of the declines over the groups.

    Returns:
        Follow-ups and declines the gate gets right (averaged over the draws),
        and the same for the rules alone.
    """
    follow_ups, declines = [], []
    for draw in range(draws):
        rng = random.Random(draw)
        fold = [BATCH_GROUPS[r.batch] if r.batch in BATCH_GROUPS else rng.randrange(FOLDS) for r in data]
        right = [False] * len(data)
        for k in range(FOLDS):
            gate = fit([r for r, f in zip(data, fold, strict=True) if f != k])
            for i, (r, f) in enumerate(zip(data, fold, strict=True)):
                if f == k:
                    right[i] = _right(r, gate.probability(r.x) >= settings.ANSWER_GATE_THRESHOLD)
        follow_ups.append(sum(ok for ok, r in zip(right, data, strict=True) if r.answerable))
        declines.append(sum(ok for ok, r in zip(right, data, strict=True) if not r.answerable))
    rules_follow_ups = sum(r.rules_right for r in data if r.answerable)
    rules_declines = sum(r.rules_right for r in data if not r.answerable)
    return float(np.mean(follow_ups)), float(np.mean(declines)), rules_follow_ups, rules_declines


def main(argv: Optional[List[str]] = None) -> None:
    """Train the gate and write its weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross-validate", action="store_true", help="print cross-validated figures first")
    parser.add_argument("--dry-run", action="store_true", help="do not write the weights")
    args = parser.parse_args(argv)
    if settings.ANSWER_GATE:
        parser.error("train with the gate off: ANSWER_GATE=0 (make gate does)")
    data = rows(load_labelled("tuning"))
    answerable = sum(r.answerable for r in data)
    print(f"{len(data)} second messages read in context: {answerable} follow-ups, {len(data) - answerable} declines")
    if args.cross_validate:
        follow_ups, declines, rules_follow_ups, rules_declines = cross_validate(data)
        print(
            f"cross-validated, threshold {settings.ANSWER_GATE_THRESHOLD}: follow-ups right {follow_ups:.1f}, "
            f"declines right {declines:.1f} (rules alone: {rules_follow_ups}, {rules_declines})"
        )
    gate = fit(data)
    for name, weight in sorted(zip(FEATURES, gate.weights, strict=True), key=lambda p: -abs(p[1])):
        print(f"  {name:22s} {weight:+.3f}")
    if not args.dry_run:
        settings.ANSWER_GATE_PATH.write_text(gate.to_json(), encoding="utf-8")
        print(f"wrote {settings.ANSWER_GATE_PATH}")


if __name__ == "__main__":
    main()
