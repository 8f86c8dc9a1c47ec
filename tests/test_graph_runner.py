"""The graph runner without dask gives Rasa's parses and predictions."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
import yaml
from rasa.engine.runner.dask import DaskGraphRunner

from bot import graph_runner, patches
from tests.test_patches import _conversation

LABELLED = graph_runner.__file__.replace("bot/graph_runner.py", "tests/data/labelled.yml")


def test_each_node_runs_once_after_the_nodes_it_needs() -> None:
    calls: List[str] = []

    def node(name: str):
        def call(*inputs: Any) -> Any:
            calls.append(name)
            return (name, [i[1] if isinstance(i, tuple) else i for i in inputs])

        return call

    graph: Dict[str, Any] = {
        "message": ("message", "hello"),
        "tokens": (node("tokens"), "message"),
        "features": (node("features"), "tokens"),
        "intent": (node("intent"), "features", "tokens"),
        "target": (node("target"), "intent", "features"),
    }
    result = graph_runner.execute(graph, ["target", "features"])
    assert sorted(calls) == ["features", "intent", "target", "tokens"]
    assert calls.index("tokens") < calls.index("features") < calls.index("intent") < calls.index("target")
    assert result[1] == ("features", [["hello"]])
    intent = [[["hello"]], ["hello"]]
    assert result[0] == ("target", [intent, [["hello"]]])


@pytest.fixture(scope="module")
def agent():
    from rasa.core.agent import Agent

    from bot.serve import DEFAULT_MODEL

    patches.apply()
    return Agent.load(str(DEFAULT_MODEL))


def _with(run: Any, work: Any) -> Any:
    original = DaskGraphRunner.run
    DaskGraphRunner.run = run  # type: ignore[method-assign]
    try:
        return work()
    finally:
        DaskGraphRunner.run = original  # type: ignore[method-assign]


def test_the_patch_is_installed() -> None:
    patches.apply()
    assert DaskGraphRunner.run is graph_runner.run


def test_parses_are_the_same_as_with_dask(agent) -> None:
    messages = yaml.safe_load(open(LABELLED))["messages"]
    texts = ["hello", "thanks!", "bye", "are you a bot?"] + [m.get("text") or m["turns"][-1] for m in messages][::3]

    def parse_all() -> List[Any]:
        async def go() -> List[Any]:
            return [await agent.parse_message(t) for t in texts]

        return asyncio.run(go())

    ours = _with(graph_runner.run, parse_all)
    rasa = _with(graph_runner.RASA_RUN, parse_all)
    assert len(ours) == len(texts) > 250
    assert ours == rasa
    assert {p["intent"]["name"] for p in ours} >= {"ask_question", "report_severe_symptom", "greet"}


def test_predictions_are_the_same_as_with_dask(agent) -> None:
    for turns in range(0, 12):
        _, tracker = _conversation(turns)

        def predict(tracker: Any = tracker) -> Any:
            return agent.processor.predict_next_with_tracker(tracker)

        assert _with(graph_runner.run, predict) == _with(graph_runner.RASA_RUN, predict), turns
