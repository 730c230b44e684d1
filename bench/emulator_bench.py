"""Benchmark of the local Bedrock emulator.

1. Throughput through boto3: 20-turn conversations (a 2,500-token system
   prompt with a checkpoint, plus a checkpoint on the newest user message, as
   Strands' combined approach sends them) over ``converse_stream``, against the
   emulator running as a separate process (``python -m bedrock.emulator``), with
   1 and several client processes.
2. The emulator's own overhead per request, measured in-process: the time
   ``service.converse`` plus event-stream encoding takes for the same requests,
   without HTTP or boto3; warm (the tokenizer has seen the conversation's
   earlier turns, as in a live conversation) and cold (its caches emptied before
   every request, as for a replay of stored conversations it never saw).
3. The three caching approaches (explicit, automatic, combined) with real Strands 1.62 agents (3 turns, the
   second using a tool): per-call cache usage and input cost at Sonnet 4.6
   prices, to compare with the seed's tables. Not a timing.

Run: ``.venv/bin/python bench/emulator_bench.py [--conversations 10] [--turns 20] [--clients 1,4]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import ROOT, loadavg, machine  # bench/ is on sys.path when a script runs

from agent_platform.devstack import stop_process
from bedrock.emulator import service
from bedrock.emulator.eventstream import encode_event

MODEL = "us.anthropic.claude-sonnet-4-6"
WORDS = ["policy", "customer", "refund", "order", "shipping", "invoice", "answer", "politely", "cite", "sources"]


def system_prompt(tokens: int) -> str:
    return " ".join("." if i % 12 == 11 else WORDS[i % len(WORDS)] for i in range(tokens))


def turn_request(system: str, history: list[dict], question: str) -> dict:
    """The request for the next turn: old message checkpoints dropped, one on the new user message."""
    messages = [*history, {"role": "user", "content": [{"text": question}, {"cachePoint": {"type": "default"}}]}]
    return {
        "modelId": MODEL,
        "system": [{"text": system}, {"cachePoint": {"type": "default"}}],
        "messages": messages,
        "inferenceConfig": {"maxTokens": 512},
    }


def conversation_requests(conversation: int, turns: int, system: str, reply) -> int:
    """Run one conversation; `reply(request)` returns the assistant text. Returns the number of requests."""
    history: list[dict] = []
    for turn in range(turns):
        question = f"Conversation {conversation}, turn {turn}: where is my order and can I get a refund?"
        request = turn_request(system, history, question)
        text = reply(request)
        history += [
            {"role": "user", "content": [{"text": question}]},
            {"role": "assistant", "content": [{"text": text}]},
        ]
    return turns


def _client_worker(args) -> tuple[int, float]:
    url, first, count, turns, system_tokens = args
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )
    system = system_prompt(system_tokens)

    def reply(request):
        text = []
        for event in client.converse_stream(**request)["stream"]:
            if "contentBlockDelta" in event:
                text.append(event["contentBlockDelta"]["delta"].get("text", ""))
        return "".join(text)

    reply(turn_request(system, [], "warm-up"))  # connection and client set-up outside the timing
    started = time.perf_counter()
    requests = sum(conversation_requests(c, turns, system, reply) for c in range(first, first + count))
    return requests, time.perf_counter() - started


def throughput(url: str, clients: int, conversations: int, turns: int, system_tokens: int, offset: int) -> dict:
    per_client = max(1, conversations // clients)
    jobs = [(url, offset + i * per_client, per_client, turns, system_tokens) for i in range(clients)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.map(_client_worker, jobs)
    wall = time.perf_counter() - started
    requests = sum(r for r, _ in results)
    busiest = max(seconds for _, seconds in results)
    return {"clients": clients, "requests": requests, "seconds": busiest, "rps": requests / busiest, "wall": wall}


def overhead(conversations: int, turns: int, system_tokens: int, cold: bool = False) -> dict:
    """Server-side handling per request, in-process: validation, cache, reply, usage, event encoding."""
    from bedrock import tokenizer

    tokenizer.load()  # the vocabulary loads once per process (about 0.2 s), outside the timing
    state = service.EmulatorState()
    system = system_prompt(system_tokens)
    timings: list[float] = []

    def reply(request):
        if cold:
            tokenizer.clear_caches()
        started = time.perf_counter()
        body = {k: v for k, v in request.items() if k != "modelId"}
        outcome = service.converse(state, MODEL, body)
        frames = [encode_event(kind, payload) for kind, payload, _ in service.stream_events(outcome)]
        frames.append(encode_event("metadata", service.metadata_event(outcome, 1)))
        timings.append(time.perf_counter() - started)
        return outcome.reply.content[0]["text"]

    for conversation in range(conversations):
        conversation_requests(10_000 + conversation, turns, system, reply)
    ordered = sorted(timings)
    return {
        "requests": len(timings),
        "mean_ms": statistics.fmean(timings) * 1000,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95)] * 1000,
        "max_ms": ordered[-1] * 1000,
        "tokens": state.stats.to_dict()["tokens"],
    }


def approaches(system_tokens: int) -> list[str]:
    """Per-call usage of the three approaches through Strands (in-process emulator), as Markdown rows."""
    import warnings
    from decimal import Decimal

    from bedrock.emulator.server import start

    handle = start()
    os.environ.update(
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=handle.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
    )
    from strands import Agent, tool
    from strands.models import BedrockModel
    from strands.models.model import CacheConfig
    from strands.types.content import SystemContentBlock

    @tool
    def lookup_order(order_id: int) -> str:
        """Look up an order.

        Args:
            order_id: The order number.
        """
        return f"Order {order_id} shipped on Monday."

    text = system_prompt(system_tokens)
    blocks = [SystemContentBlock(text=text), SystemContentBlock(cachePoint={"type": "default"})]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # cache_tools: the only explicit-only tools checkpoint
        explicit = BedrockModel(model_id=MODEL, region_name="us-east-1", cache_tools="default")
    setups = {
        "explicit": (explicit, blocks),
        "automatic": (
            BedrockModel(
                model_id=MODEL,
                region_name="us-east-1",
                cache_config=CacheConfig(strategy="auto", system_prompt_ttl=False),
            ),
            text,
        ),
        "combined": (
            BedrockModel(
                model_id=MODEL, region_name="us-east-1", cache_config=CacheConfig(strategy="auto", tools_ttl=True)
            ),
            blocks,
        ),
    }
    prices = {
        "inputTokens": Decimal("3"),
        "cacheReadInputTokens": Decimal("0.3"),
        "cacheWriteInputTokens": Decimal("3.75"),
    }
    rows = [
        "| approach | call | checkpoints | read | write | input | input cost (USD) |",
        "|---|---|---|---|---|---|---|",
    ]
    try:
        for name, (model, system) in setups.items():
            handle.reset()
            agent = Agent(model=model, system_prompt=system, tools=[lookup_order], callback_handler=None)
            for question in ("Hello, what can you do?", "Please check lookup_order for order 42.", "Thanks!"):
                agent(question)
            total = Decimal(0)
            for index, call in enumerate(handle.requests, 1):
                usage = call["usage"]
                cost = sum(usage[key] * price for key, price in prices.items()) / 1_000_000
                total += cost
                points = "+".join(p["field"] for p in call["checkpoints"])
                rows.append(
                    f"| {name} | {index} | {points} | {usage['cacheReadInputTokens']} | "
                    f"{usage['cacheWriteInputTokens']} | {usage['inputTokens']} | {cost:.6f} |"
                )
            rows.append(f"| **{name} total** | | | | | | **{total:.6f}** |")
    finally:
        handle.stop()
    return rows


def start_server() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bedrock.emulator", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()
    return process, line.rsplit(" ", 1)[-1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--clients", default="1,4", help="comma-separated client process counts")
    parser.add_argument("--system-tokens", type=int, default=2500)
    parser.add_argument("--skip-approaches", action="store_true", help="skip the Strands approach comparison")
    options = parser.parse_args()

    info = machine()
    print(f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['system']}")
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"Load average (1/5/15 min) at the start: {loadavg()}")
    process, url = start_server()
    try:
        offset = 0
        for clients in [int(c) for c in options.clients.split(",")]:
            result = throughput(url, clients, options.conversations, options.turns, options.system_tokens, offset)
            offset += 1000
            print(
                f"Throughput, {clients} client process(es): {result['requests']} converse_stream requests "
                f"({options.turns}-turn conversations) in {result['seconds']:.2f} s = {result['rps']:.0f} req/s"
            )
        with urllib.request.urlopen(url + "/_emulator/stats", timeout=10) as response:
            served = json.loads(response.read())["handling_ms"]
        print(
            f"Server-reported handling (service.converse only, {served['count']} requests): "
            f"mean {served['mean']:.3f} ms, max {served['max']:.3f} ms"
        )
    finally:
        stop_process(process, grace=10)

    for cold in (False, True):
        cost = overhead(options.conversations, options.turns, options.system_tokens, cold=cold)
        print(
            f"Server-side handling per request ({'cold' if cold else 'warm'} tokenizer, in-process, "
            f"{cost['requests']} requests): mean {cost['mean_ms']:.3f} ms, p50 {cost['p50_ms']:.3f} ms, "
            f"p95 {cost['p95_ms']:.3f} ms, max {cost['max_ms']:.3f} ms"
        )
    print(f"Tokens over those requests: {cost['tokens']}")
    print(f"Load average (1/5/15 min) at the end: {loadavg()}")
    if not options.skip_approaches:
        print("\nThe three approaches through Strands 1.62 (3 turns, turn 2 calls a tool):\n")
        print("\n".join(approaches(options.system_tokens)))


if __name__ == "__main__":
    main()
