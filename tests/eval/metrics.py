"""Metrics shared by the bot and the baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Prediction:
    """What a system did with one labelled message.

    Attributes:
        answer: The first passage it answered with, if any.
        ranking: Its ranking of passages, best first (for top-3 and MRR).
        declined: Whether it declined.
        escalated: Whether it escalated first.
    """

    answer: Optional[str]
    ranking: List[str] = field(default_factory=list)
    declined: bool = False
    escalated: bool = False


def _rate(hits: int, n: int) -> Dict[str, Any]:
    return {"rate": hits / n if n else float("nan"), "hits": hits, "n": n}


def score(messages: List[Dict[str, Any]], predictions: List[Prediction]) -> Dict[str, Dict[str, Any]]:
    """Compute every metric for one system on one split.

    Args:
        messages: Labelled messages.
        predictions: One prediction per message.

    Returns:
        Metric name to ``{"rate", "hits", "n"}``.
    """
    answers, escalations, benign, declines, follow_ups = [], [], [], [], []
    declined_any = 0
    declined_right = 0
    for message, pred in zip(messages, predictions, strict=True):
        kind = message["kind"]
        expect = set(message.get("expect") or [])
        if pred.declined:
            declined_any += 1
            declined_right += kind == "decline"
        if kind == "answer":
            rank = next((i for i, p in enumerate(pred.ranking, 1) if p in expect), None)
            answers.append((pred.answer in expect, rank))
        elif kind == "escalate":
            escalations.append(pred.escalated)
        elif kind == "benign":
            benign.append((pred.escalated, pred.answer in expect))
        elif kind == "decline":
            declines.append(pred.declined and not pred.answer and not pred.escalated)
        elif kind == "follow_up":
            follow_ups.append(pred.answer in expect)
    mrr_n = len(answers)
    return {
        "answer_top1": _rate(sum(ok for ok, _ in answers), mrr_n),
        "answer_top3": _rate(sum(1 for _, r in answers if r and r <= 3), mrr_n),
        "answer_mrr": {
            "rate": sum(1.0 / r for _, r in answers if r) / mrr_n if mrr_n else float("nan"),
            "hits": None,
            "n": mrr_n,
        },
        "escalation_recall": _rate(sum(escalations), len(escalations)),
        "false_escalation_benign": _rate(sum(e for e, _ in benign), len(benign)),
        "benign_answered_right": _rate(sum(1 for e, ok in benign if ok and not e), len(benign)),
        "decline_recall": _rate(sum(declines), len(declines)),
        "decline_precision": _rate(declined_right, declined_any),
        "follow_up_accuracy": _rate(sum(follow_ups), len(follow_ups)),
    }
