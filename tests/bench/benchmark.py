"""``make bench``: speed and memory figures, printed and written to ``docs/performance.md``.

Measures, on this machine and in one run:

- the REST round trip (p50/p95/p99) for a leaflet question, an escalation and a greeting;
- the time of each stage: NLU parse, the action-server call, query embedding, FAISS search;
- throughput at several numbers of concurrent conversations, with errors;
- the RSS of each process; the index build, ``rasa train`` and the cold start to the first answer;
- a bare Rasa bot as the floor (a rule response, no action server), and our ratio to it.

``--smoke`` runs every part with tiny counts and writes to ``test-artifacts/`` instead
of ``docs/``: it proves the harness works and is what CI runs. Figures are not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import psutil

from tests.support.servers import PROJECT_DIR, free_port, start_bot

QUESTION = "How should I store the cream?"
ESCALATION = "I have a fever and big blisters"
GREETING = "hello"
# The scaled-out run's Rasa workers, and the floor's load (greetings only, as many conversations as our target).
SCALED_RASA_WORKERS = 2
FLOOR_LOAD_CONVERSATIONS = 20
MIX = [QUESTION, "can I use sunscreen?", ESCALATION, "how long until results?", GREETING, "what is imiquimod for?"]


def percentile(values: List[float], q: float) -> float:
    """Return the q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values_ms: List[float]) -> Dict[str, float]:
    """p50/p95/p99 and mean of latencies in milliseconds."""
    return {
        "n": len(values_ms),
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "mean": statistics.fmean(values_ms) if values_ms else float("nan"),
    }


def post_json(url: str, body: Dict[str, Any], timeout: float = 30.0) -> Any:
    """POST JSON and return the decoded reply."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def time_calls(call: Callable[[int], Any], n: int, warmup: int = 3) -> List[float]:
    """Time ``n`` calls in milliseconds after a few warm-up calls."""
    for i in range(warmup):
        call(-1 - i)
    times = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def rest_latency(base_url: str, text: str, n: int) -> Dict[str, float]:
    """Sequential REST round trips; a new conversation every 10 messages."""
    run = uuid.uuid4().hex[:6]
    return summary(
        time_calls(
            lambda i: post_json(f"{base_url}/webhooks/rest/webhook", {"sender": f"b{run}{i // 10}", "message": text}),
            n,
        )
    )


async def _load(
    base_url: str, conversations: int, per_conversation: int, texts: Optional[List[str]] = None
) -> Dict[str, Any]:
    import aiohttp

    latencies: List[float] = []
    errors = 0
    run = uuid.uuid4().hex[:6]

    async def conversation(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal errors
        for turn in range(per_conversation):
            mix = texts or MIX
            body = {"sender": f"load{run}-{conversations}-{index}", "message": mix[(index + turn) % len(mix)]}
            start = time.perf_counter()
            try:
                async with session.post(f"{base_url}/webhooks/rest/webhook", json=body) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
            except (aiohttp.ClientError, asyncio.TimeoutError):
                errors += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000)

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(conversation(session, i) for i in range(conversations)))
        elapsed = time.perf_counter() - start
    total = conversations * per_conversation
    return {
        "conversations": conversations,
        "messages": total,
        "errors": errors,
        "seconds": elapsed,
        "messages_per_s": (total - errors) / elapsed,
        **{k: v for k, v in summary(latencies).items() if k != "n"},
    }


def throughput(
    base_url: str, levels: List[int], per_conversation: int, pid: Optional[int] = None
) -> List[Dict[str, Any]]:
    """Run the load at each concurrency level.

    Args:
        base_url: The Rasa server.
        levels: Numbers of concurrent conversations.
        per_conversation: Messages each conversation sends.
        pid: The launcher's pid; when given, each level also reports the CPU
            time per message of each server role.

    Returns:
        One row per level.
    """
    rows = []
    for level in levels:
        before = cpu_seconds(pid) if pid else {}
        row = asyncio.run(_load(base_url, level, per_conversation))
        if pid:
            after = cpu_seconds(pid)
            row["cpu_ms_per_message"] = {
                role: 1000 * (after[role] - before.get(role, 0.0)) / max(1, row["messages"] - row["errors"])
                for role in after
            }
        rows.append(row)
    return rows


def _role(command: str) -> Optional[str]:
    if "run actions" in command:
        return "action server"
    if "redis-server" in command:
        return "redis"
    if "postgres" in command:
        return "postgresql"
    if " run " in f"{command} ":
        return "rasa server"
    return None


def _children(pid: int) -> List[Any]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def cpu_seconds(pid: int) -> Dict[str, float]:
    """CPU seconds (user + system) used so far by a launcher's servers, by role."""
    found: Dict[str, float] = {}
    for child in _children(pid):
        try:
            role = _role(" ".join(child.cmdline()))
            times = child.cpu_times()
        except psutil.Error:
            continue
        if role:
            found[role] = found.get(role, 0.0) + times.user + times.system
    return found


def rss_mb(pid: int) -> Dict[str, float]:
    """RSS in MB of a launcher's child processes, by role."""
    found: Dict[str, float] = {}
    for child in _children(pid):
        try:
            role = _role(" ".join(child.cmdline()))
            rss = child.memory_info().rss / 2**20
        except psutil.Error:
            continue
        if role:
            found[role] = found.get(role, 0.0) + rss
    return found


def stage_timings(n: int) -> Dict[str, Dict[str, float]]:
    """Time query embedding, FAISS search and the whole retrieval decision in-process."""
    from knowledge.answering import decide
    from knowledge.embedder import embed
    from knowledge.search import get_knowledge_base

    kb = get_knowledge_base()
    vector = embed([QUESTION])
    return {
        "query embedding": summary(time_calls(lambda i: embed([QUESTION]), n)),
        "FAISS search (all rows)": summary(time_calls(lambda i: kb.rank_vectors(vector), n)),
        "retrieval decision (embed + search + choose)": summary(time_calls(lambda i: decide(QUESTION), n)),
    }


def action_call_timing(action_port: int, n: int) -> Dict[str, float]:
    """Time a direct call to the action server, as Rasa makes it."""
    body = {
        "next_action": "action_answer_question",
        "sender_id": "bench",
        "tracker": {
            "sender_id": "bench",
            "slots": {},
            "latest_message": {"text": QUESTION, "intent": {"name": "ask_question", "confidence": 0.9}},
            "events": [{"event": "user", "text": QUESTION}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
        "domain": {},
        "version": "3.6.21",
    }
    url = f"http://127.0.0.1:{action_port}/webhook"
    return summary(time_calls(lambda i: post_json(url, body), n))


def nlu_timing(base_url: str, n: int) -> Dict[str, float]:
    """Time /model/parse over HTTP."""
    return summary(time_calls(lambda i: post_json(f"{base_url}/model/parse", {"text": QUESTION}), n))


def rasa_env() -> Dict[str, str]:
    """Environment for plain rasa commands."""
    return dict(os.environ, RASA_TELEMETRY_ENABLED="false", SQLALCHEMY_SILENCE_UBER_WARNING="1")


def rasa_bin() -> str:
    """The venv's rasa executable."""
    return str(Path(sys.executable).parent / "rasa")


def measure_floor(n: int, per_conversation: int, log: Path) -> Dict[str, Any]:
    """Create, train and run a bare ``rasa init`` bot; measure its REST greeting latency and RSS.

    This is the floor the project measured before any of our code: Rasa's own
    starter bot, answering a greeting with a rule response and calling no
    action server.
    """
    with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        subprocess.run(
            [rasa_bin(), "init", "--no-prompt", "--init-dir", str(folder)],
            cwd=folder,
            env=rasa_env(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        train_s = time.perf_counter() - start
        model = sorted((folder / "models").glob("*.tar.gz"))[-1]
        port = free_port()
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [rasa_bin(), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model", str(model)],
                cwd=folder,
                env=rasa_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            started = time.perf_counter()
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/status", timeout=2) as response:
                        if json.loads(response.read()).get("model_id"):
                            break
                except (OSError, ValueError):
                    pass
                if process.poll() is not None or time.perf_counter() - started > 240:
                    raise RuntimeError("the floor bot did not start")
                time.sleep(0.3)
            ready_s = time.perf_counter() - started
            latency = rest_latency(base, GREETING, n)
            parse = summary(time_calls(lambda i: post_json(f"{base}/model/parse", {"text": GREETING}), n))
            load = asyncio.run(_load(base, FLOOR_LOAD_CONVERSATIONS, per_conversation, texts=[GREETING]))
            rss = psutil.Process(process.pid).memory_info().rss / 2**20
        finally:
            process.terminate()
            process.wait(30)
    return {
        "train_s": train_s,
        "ready_s": ready_s,
        "rest_greeting": latency,
        "parse": parse,
        "rss_mb": rss,
        "throughput": load,
    }


def measure_train() -> float:
    """Time a full ``rasa train`` of our bot into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="train-") as tmp:
        start = time.perf_counter()
        subprocess.run(
            [
                rasa_bin(),
                "train",
                "--data",
                "bot",
                "--domain",
                "domain.yml",
                "--config",
                "config.yml",
                "--out",
                tmp,
                "--force",
            ],
            cwd=PROJECT_DIR,
            env=rasa_env(),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - start


def measure_index_build() -> float:
    """Time an index build (embedding every passage, phrasing and unanswerable question)."""
    from knowledge import index as index_store

    with tempfile.TemporaryDirectory(prefix="index-") as tmp:
        start = time.perf_counter()
        index_store.build(Path(tmp))
        return time.perf_counter() - start


def measure_scaled(levels: List[int], per_conversation: int, log: Path) -> Dict[str, Any]:
    """Throughput of the scaled-out bot (``make run-scaled``): Rasa workers on PostgreSQL and Redis."""
    env = {
        "BOT_SCALE_OUT": "1",
        "RASA_WORKERS": str(SCALED_RASA_WORKERS),
        "POSTGRES_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
    }
    with tempfile.TemporaryDirectory(prefix="bench-scaled-") as tmp:
        start = time.perf_counter()
        bot = start_bot(Path(tmp), log, extra_env=env, timeout=300)
        ready_s = time.perf_counter() - start
        try:
            rows = throughput(bot.url, levels, per_conversation, pid=bot.process.pid)
            rss = rss_mb(bot.process.pid)
        finally:
            bot.stop()
    return {"rasa_workers": SCALED_RASA_WORKERS, "ready_s": ready_s, "throughput": rows, "rss_mb": rss}


def cold_start(data_dir: Path, log: Path) -> Dict[str, Any]:
    """Start our bot and time until the first leaflet answer arrives."""
    start = time.perf_counter()
    bot = start_bot(data_dir, log)
    ready_s = time.perf_counter() - start
    post_json(f"{bot.url}/webhooks/rest/webhook", {"sender": "cold", "message": QUESTION})
    return {"bot": bot, "ready_s": ready_s, "first_answer_s": time.perf_counter() - start}


def plot(levels: List[Dict[str, Any]], scaled: List[Dict[str, Any]], path: Path) -> None:
    """Latency against concurrency, with throughput on a second axis, for one worker and scaled out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [row["conversations"] for row in levels]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.plot(xs, [row["p50"] for row in levels], marker="o", label="p50, one worker")
    ax.plot(xs, [row["p95"] for row in levels], marker="o", label="p95, one worker")
    scaled_xs = [row["conversations"] for row in scaled]
    ax.plot(
        scaled_xs, [row["p95"] for row in scaled], marker="o", linestyle="--", color="#9467bd", label="p95, scaled out"
    )
    ax.set_xlabel("concurrent conversations")
    ax.set_ylabel("REST round trip (ms)")
    ax.grid(alpha=0.3)
    other = ax.twinx()
    other.plot(xs, [row["messages_per_s"] for row in levels], marker="s", color="#2e8b57", label="msg/s, one worker")
    other.plot(
        scaled_xs,
        [row["messages_per_s"] for row in scaled],
        marker="s",
        linestyle="--",
        color="#8b2e6b",
        label="msg/s, scaled out",
    )
    other.set_ylabel("messages per second")
    handles = ax.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + other.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper left")
    ax.set_title("Latency and throughput against concurrency")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _ms(row: Dict[str, float]) -> str:
    return f"{row['p50']:.1f} / {row['p95']:.1f} / {row['p99']:.1f}"


def _throughput_row(setup: str, r: Dict[str, Any]) -> str:
    cpu = r.get("cpu_ms_per_message") or {}
    cpu_text = ", ".join(f"{role} {ms:.0f}" for role, ms in sorted(cpu.items())) + (
        f"; total {sum(cpu.values()):.0f}" if cpu else "-"
    )
    return (
        f"| {setup} | {r['conversations']} | {r['messages']} | {r['errors']} | {r['messages_per_s']:.1f} |"
        f" {r['p50']:.1f} | {r['p95']:.1f} | {cpu_text} |"
    )


def report(results: Dict[str, Any], smoke: bool) -> List[str]:
    """Render the figures as Markdown."""
    ours, floor = results["rest"]["leaflet question"], results["floor"]["rest_greeting"]
    scaled_rss = results["scaled"]["rss_mb"]
    lines = [
        "# Performance",
        "",
        f"Generated by `make bench{'-smoke' if smoke else ''}` on {results['machine']}.",
        f"Counts: {results['n']} sequential requests per scenario; load runs of {results['per_conversation']}"
        " messages per conversation.",
        "",
        "## REST round trip (ms, p50 / p95 / p99)",
        "",
        "| Scenario | p50 / p95 / p99 |",
        "|---|---|",
        *[f"| {name} | {_ms(row)} |" for name, row in results["rest"].items()],
        f"| floor: bare `rasa init` bot (greeting, rule response, no action server) | {_ms(floor)} |",
        "",
        f"Leaflet question vs floor: p50 x{ours['p50'] / floor['p50']:.2f}, p95 x{ours['p95'] / floor['p95']:.2f}"
        " (target p95 <= 60 ms and <= 1.6 x floor).",
        "",
        "## Stages (ms, p50 / p95 / p99)",
        "",
        "| Stage | p50 / p95 / p99 |",
        "|---|---|",
        *[f"| {name} | {_ms(row)} |" for name, row in results["stages"].items()],
        f"| floor NLU parse (/model/parse over HTTP) | {_ms(results['floor']['parse'])} |",
        "",
        "## Throughput",
        "",
        f"One worker: `make run` (one Rasa process, one action server, SQLite). Scaled out: `make run-scaled`"
        f" ({results['scaled']['rasa_workers']} Rasa workers, one action server, PostgreSQL and Redis started by"
        " the launcher). CPU is milliseconds of CPU per answered message, summed over each role's processes;"
        " the machine has 2 cores, so 2000 ms of CPU per second is all there is.",
        "",
        "| Set-up | Concurrent conversations | Messages | Errors | Messages/s | p50 ms | p95 ms | CPU ms/message |",
        "|---|---|---|---|---|---|---|---|",
        *[_throughput_row("one worker", r) for r in results["throughput"]],
        *[_throughput_row("scaled out", r) for r in results["scaled"]["throughput"]],
        _throughput_row("floor: bare `rasa init`, greetings only", results["floor"]["throughput"]),
        "",
        "![latency against concurrency](latency_concurrency.png)",
        "",
        "## Memory and times",
        "",
        "| Figure | Value |",
        "|---|---|",
        *[f"| RSS, {name} | {mb:.0f} MB |" for name, mb in results["rss_mb"].items()],
        *[f"| RSS scaled out, {name} (all its processes) | {mb:.0f} MB |" for name, mb in scaled_rss.items()],
        f"| RSS, bare Rasa floor | {results['floor']['rss_mb']:.0f} MB |",
        f"| Index build (embed all rows) | {results['index_build_s']:.1f} s |",
        f"| `rasa train` (our bot) | {results['train_s']:.1f} s |",
        f"| `rasa init` incl. training (floor) | {results['floor']['train_s']:.1f} s |",
        f"| Launcher start to ready (trained model) | {results['cold']['ready_s']:.1f} s |",
        f"| Launcher start to first answer | {results['cold']['first_answer_s']:.1f} s |",
        f"| Floor start to ready | {results['floor']['ready_s']:.1f} s |",
        f"| Scaled out: launcher start to ready (PostgreSQL, Redis, workers) | {results['scaled']['ready_s']:.1f} s |",
        "",
        "## Against the targets",
        "",
        *targets(results),
        "",
        "## What moved the figures",
        "",
        *NOTES,
        "",
    ]
    return lines


NOTES = [
    "- Profiling the Rasa server (py-spy) showed about 70% of its time on a leaflet question in"
    " `RemoteAction._validate_action_result`: `jsonschema.validate` re-checks the schema and builds a"
    " validator for every action-server response. `bot/patches.py` validates against one validator compiled"
    " once (same checks). Leaflet question p50 101 ms -> 58 ms.",
    "- Under load (20 conversations) py-spy then showed about 40% of the Rasa server in the SQL tracker"
    " store (ORM query building, ORM objects per event, a COUNT before each save, a new SQLite connection"
    " per use) and 9% in `Event.resolve_by_type` walking the class tree for every stored event."
    " `bot/tracker_sql.py` reads and writes the same table with plain SQL on pooled connections, and"
    " `bot/patches.py` caches the event types; the MemoizationPolicy went too (rules route every turn;"
    " the test stories still pass). Rasa server CPU per message: 65 ms -> 33 ms.",
    "- The action server: FAISS's idle OpenMP threads spun (10% of its CPU), so FAISS runs on one thread;"
    " the per-passage ranking is vectorised. Then query"
    " embedding moved to sentence-transformers' ONNX Runtime backend (an export made once"
    " from the packaged weights; the same vectors to 1e-7): 20-29 ms -> 7-11 ms per query. Action server CPU"
    " per message: 44 ms -> 20 ms. Dynamic int8 quantisation would be faster still but cost 7 points of"
    " hold-out accuracy, so it is off (`knowledge/settings.py`).",
    "- A follow-up reuses the vector of its previous question, embedded in the turn before, instead of"
    " embedding it again; the new message itself is always embedded afresh.",
    "- The RulePolicy built the dialogue state after every past action of the conversation for every"
    " prediction, two or three predictions a message (3.3 ms each at 20 turns, growing with the"
    " conversation), although no rule looks further back than 4 states. `bot/patches.py` replays every event"
    " but builds only those 4 states; states and predictions are tested identical to Rasa's own. Rasa server"
    " CPU per message under load: 33-35 ms -> 19-23 ms; leaflet question p95 60 ms -> 34 ms.",
    "- Throughput at 20 conversations went from 14-22 messages/s (session 1) to 27-36 (session 2, one"
    " worker) and to the figure above (session 3, 38-54 in single runs). The figures vary from run to run"
    " on this shared machine; the floor measured in the same run moves with them (its p95 was 106 ms in"
    " session 2's run and 67 ms in this one), so the CPU per message is the steadier measure: about 57 ms in"
    " session 2, about 39 ms now. With 2 cores that allows about 50 messages/s, minus the load generator's"
    " own share. Scaling out (2 Rasa workers, PostgreSQL and Redis) adds database, lock and worker overhead"
    " without adding cores, so on this machine it is slower than one worker; it is there for machines with"
    " more cores and for sharing conversations between processes. The bare `rasa init` bot, answering only"
    " greetings, manages less under the same load.",
    "- Session 5 (26 Nov 2026): this machine was slower than in session 4. The bare `rasa init` floor's"
    " p50 went from 52 ms to 82 ms and `rasa train` from 20 s to 29 s, neither touched by our code, and the"
    " Rasa server's CPU per message from 20 ms to 27 ms. Session 4's final code (cffabcf) and this code,"
    " run alternately four times each at 20 conversations: 34.8, 34.2, 39.1, 30.0 messages/s (mean 34.5)"
    " against 37.1, 35.5, 36.3, 38.2 (mean 36.8), question p50 44.7-44.9 ms against 42.1-44.0 ms. So the"
    " throughput target was missed today by the machine, not by a regression; session 4 measured 48.4"
    " messages/s with the same set-up.",
    "- Session 6 (26 Nov 2026), py-spy under load again. Rasa server: the action-response schema check still"
    " took 3.3 ms a response because its `oneOf` tries all 23 event types on every event; each event is now"
    " checked against its own type's branch only (0.4 ms, same verdicts as the whole schema, tested)."
    " Every action-server call opened a new HTTP connection; `bot/keepalive.py` keeps them open."
    " Loading and replaying every stored event of the conversation took about 15% of the server;"
    " `bot/tracker_sql.py` keeps each conversation's tracker between turns and reuses it while the"
    " database's newest row for it is unchanged. Every parse and prediction rebuilt the model graph and ran"
    " it through dask's scheduler; `bot/graph_runner.py` builds it once and runs it depth-first (same"
    " parses and predictions). Action server: sentence-transformers' `encode` around the ONNX graph cost"
    " about a quarter of a query's embedding; `knowledge/onnx_encoder.py` runs the same tokenizer, graph and"
    " pooling directly (same vectors to 3e-8), 10.0 -> 7.5 ms a query. CPU per message at 20"
    " conversations went from about 53 ms (Rasa 29-32, action server 22-23) to about 42 ms (Rasa 21-23,"
    " action server 20-21). Session 5's final code and this session's code before the graph-runner change,"
    " each run twice alternately with this one at 20 conversations, on a machine whose speed varied during"
    " the session: session 5's code 33.3, 30.0, 30.4, 33.4 messages/s against 43.0, 42.7, 42.4, 41.3 for"
    " this session's code without the graph runner; later, that code 37.4, 42.2, 38.2, 38.8 against 42.8,"
    " 43.5, 41.3, 40.8 with it.",
    "- Sessions 7 and 8 (27 Nov 2026): the learned follow-up scorer (knowledge/rerank.py) reads a "
    "message of up to 20 words with the previous question too and adds BM25 scores of three readings; "
    "its cost is inside the action server's 11.3 ms call and 18 ms of CPU a message above. This machine's "
    "speed varies between sessions (see session 5), so the change from session 6's figures is not a "
    "measure of the scorer.",
    "- Session 9 (27 Nov 2026): the passage classifier (knowledge/classifier.py) runs only for a message "
    "read in context: one 32 x 384 matrix-vector product, 0.05 ms a follow-up measured in-process (10,000 "
    "calls). The round trips above are of single-turn messages, which do not use it.",
    "- Session 10 (27 Nov 2026): rerun on session 9's final code. Against session 8's run the action "
    "server's call went from 11.3 to 14.0 ms and its CPU from 18 to 22 ms a message, while its retrieval "
    "decision went from 9.7 to 8.2 ms and the floor's p50 from 80.7 to 65.1 ms. The code is not the "
    "cause: replaying the first 300 tuning follow-up conversations in-process, alternately on this code "
    "and on session 8's (2977301), took 7.8-8.7 ms a first message and 19.5-21.8 ms a follow-up with "
    "either.",
    "- Session 11 (27 Nov 2026): the answer gate (knowledge/gate.py) runs only for a message read in "
    "context: nine features already computed for the scorer, one unknown-word check and a dot product, "
    "0.08 ms a follow-up measured in-process (10,000 calls). The round trips above are of single-turn "
    "messages, which do not use it, so `make bench` was not rerun.",
    "- Session 13 (27 Nov 2026): rerun on session 13's code. Since session 10 the index grew from 1226 to "
    "3716 rows (phrasings and unanswerable questions written in session 12): the flat FAISS search went "
    "from 0.3 to 1.2 ms and the index build from 7.8 to 24.7 s. The gate's answerable-classifier "
    "(knowledge/answerable.py) adds one 384-weight dot product a message read in context.",
]


def targets(results: Dict[str, Any]) -> List[str]:
    """Say which targets the run met."""
    question = results["rest"]["leaflet question"]
    floor = results["floor"]["rest_greeting"]
    candidates = [r for r in results["throughput"] + results["scaled"]["throughput"] if r["conversations"] == 20]
    at_20 = max(candidates, key=lambda r: r["messages_per_s"]) if candidates else None
    rows = [
        f"- Leaflet question p95 {question['p95']:.1f} ms (target <= 60 ms): "
        + ("met" if question["p95"] <= 60 else "missed"),
        f"- Leaflet question p95 / floor p95 = {question['p95'] / floor['p95']:.2f} (target <= 1.6): "
        + ("met" if question["p95"] <= 1.6 * floor["p95"] else "missed"),
    ]
    if at_20:
        rows.append(
            f"- {at_20['messages_per_s']:.1f} messages/s at 20 concurrent conversations with {at_20['errors']} errors,"
            " the better of one worker and scaled out (target >= 40 with 0 errors): "
            + ("met" if at_20["messages_per_s"] >= 40 and at_20["errors"] == 0 else "missed")
        )
    return rows


def main() -> int:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts; write to test-artifacts/")
    args = parser.parse_args()
    n = 10 if args.smoke else 200
    per_conversation = 3 if args.smoke else 20
    levels = [1, 10, 20, 50] if not args.smoke else [1, 5]
    out = PROJECT_DIR / ("test-artifacts" if args.smoke else "docs")
    out.mkdir(exist_ok=True)
    artifacts = PROJECT_DIR / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    results: Dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "n": n,
        "per_conversation": per_conversation,
    }
    results["index_build_s"] = measure_index_build()
    results["train_s"] = measure_train()
    results["stages"] = stage_timings(n)
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        cold = cold_start(Path(tmp), artifacts / "bench-bot.log")
        bot = cold.pop("bot")
        results["cold"] = cold
        try:
            results["stages"]["NLU parse (/model/parse over HTTP)"] = nlu_timing(bot.url, n)
            results["stages"]["action-server call (HTTP, incl. retrieval)"] = action_call_timing(bot.action_port, n)
            results["rest"] = {
                "leaflet question": rest_latency(bot.url, QUESTION, n),
                "escalation": rest_latency(bot.url, ESCALATION, n),
                "greeting": rest_latency(bot.url, GREETING, n),
            }
            results["throughput"] = throughput(bot.url, levels, per_conversation, pid=bot.process.pid)
            results["rss_mb"] = rss_mb(bot.process.pid)
        finally:
            bot.stop()
    results["scaled"] = measure_scaled(levels, per_conversation, artifacts / "bench-scaled.log")
    results["floor"] = measure_floor(n, per_conversation, artifacts / "bench-floor.log")
    plot(results["throughput"], results["scaled"]["throughput"], out / "latency_concurrency.png")
    text = "\n".join(report(results, args.smoke))
    (out / "performance.md").write_text(text, encoding="utf-8")
    (artifacts / f"performance{'-smoke' if args.smoke else ''}.json").write_text(json.dumps(results, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
