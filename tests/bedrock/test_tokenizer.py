"""The tokenizer against its references.

Two references per corpus sample, both in ``corpus/reference.json`` (``corpus/make_reference.py``
says how they were made):

- ``published_vocabulary``: Claude's published BPE vocabulary's count of the raw text, through
  Hugging Face ``tokenizers``' own pipeline; the emulator's published count must equal it;
- ``claude``: the count of the tokenizer Claude 3 through Opus 4.6 share, from ``ctok`` 1.3.0's
  offline reconstruction (which reproduces all 120 Claude Haiku 4.5 count_tokens answers recorded
  by the bpe-lite project); the emulator's Claude count must be within 10 % of it.

A published real-model figure agrees: the orchestrator system prompt of the public demo behind the
blog post "How to Save 90% on Agent Token Costs with Prompt Caching on AWS Bedrock" (2026-03-05;
9,797 characters, not shipped here) is 2,106 tokens in the published vocabulary and 2,185 by the
reconstruction, and real Claude Sonnet 4.6 wrote 2,509 tokens to the cache for it and its two tool
specs (the post's measured tables).
"""

import json
import random
from pathlib import Path

import pytest

from bedrock import tokenizer
from bedrock.tokenizer import (
    CLAUDE_SCALE,
    block_text,
    canonical_json,
    count_block,
    count_request,
    count_text,
    first_tokens,
    pieces,
    split_tokens,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
REFERENCE = json.loads((CORPUS / "reference.json").read_text())["samples"]


def published(text: str) -> int:
    """The vocabulary's own count, through the whole tokenizers pipeline."""
    return len(tokenizer.load().encode(text, add_special_tokens=False).ids)


def test_the_corpus_is_what_the_acceptance_asks_for():
    assert len(REFERENCE) >= 20
    assert {s["kind"] for s in REFERENCE.values()} == {"prose", "markdown", "python", "json"}
    for name, sample in REFERENCE.items():
        text = (CORPUS / name).read_text()
        assert len(text) == sample["chars"]
        assert 500 <= len(text) <= 10_000, name


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_corpus_counts_match_their_references(name):
    text = (CORPUS / name).read_text()
    sample = REFERENCE[name]
    assert count_text(text) == sample["published_vocabulary"]
    error = (count_text(text, claude=True) - sample["claude"]) / sample["claude"]
    assert abs(error) <= 0.10, f"{name}: {error:+.1%}"


def test_the_claude_count_has_no_bias_left_over_the_corpus():
    errors, raw_errors = [], []
    for name, sample in REFERENCE.items():
        text = (CORPUS / name).read_text()
        errors.append(count_text(text, claude=True) / sample["claude"] - 1)
        raw_errors.append(sample["published_vocabulary"] / sample["claude"] - 1)
    assert abs(sum(errors) / len(errors)) < 0.02
    # The published vocabulary alone is further off: that is what the rules and the scale correct.
    assert sum(raw_errors) / len(raw_errors) < -0.05
    assert min(raw_errors) < -0.10 < min(errors)


def test_the_fast_ascii_path_counts_as_the_vocabulary_does():
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)]
    texts = ["", "Hello, world 42!", "snake_case x2", "it's   odd\n\n\tindent", "<EOT> is special <SOS>"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 80))) for _ in range(300)]
    texts += ["".join(rng.choice(" \n\tab9'.,:\"{}") for _ in range(rng.randrange(1, 80))) for _ in range(300)]
    for text in texts:
        assert count_text(text) == published(text), repr(text)
    assert count_text("héllo wörld, 日本語") == published("héllo wörld, 日本語")


def test_claude_rules_for_indentation_blank_lines_and_numbers():
    base = count_text("a\nb")
    assert count_text("a\n    b", claude=True) == round((count_text("a\n    b") + 1) * CLAUDE_SCALE)
    assert count_text("a\n\n\nb") == base + 1 and count_text("a\n\n\nb", claude=True) == base
    # " 1234567": a space, then digits in threes.
    assert count_text("x 1234567", claude=True) == round((1 + 1 + 3) * CLAUDE_SCALE)


def test_pieces_join_back_and_add_up():
    for text in ("alpha, beta gamma. delta", "é, ü and 日本語\n  x = 10"):
        parts = pieces(text)
        assert "".join(p for p, _ in parts) == text
        assert sum(n for _, n in parts) == count_text(text)


def test_first_tokens_and_split_tokens_cut_on_token_boundaries():
    text = "alpha, beta gamma. delta"
    assert first_tokens(text, count_text("alpha,")) == "alpha,"
    assert first_tokens(text, 100) == text
    assert first_tokens(text, 0) == ""
    for limit in range(1, count_text(text, claude=True) + 1):
        assert count_text(first_tokens(text, limit, claude=True), claude=True) <= limit
    chunks = split_tokens(text, 2)
    assert "".join(p for p, _ in chunks) == text
    assert sum(n for _, n in chunks) == count_text(text)


def test_canonical_json_is_key_order_independent():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})
    assert canonical_json({"x": "é"}) == '{"x":"é"}'


def test_tool_blocks_count_what_converse_hands_the_model():
    schema = {"type": "object", "properties": {"order_id": {"type": "integer"}}, "required": ["order_id"]}
    spec = {"toolSpec": {"name": "lookup", "description": "Find an order.", "inputSchema": {"json": schema}}}
    tool = {"name": "lookup", "description": "Find an order.", "input_schema": schema}
    assert block_text(spec) == json.dumps(tool)
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup", "input": {"order_id": 7}}}
    assert block_text(use) == json.dumps({"id": "tooluse_1", "name": "lookup", "input": {"order_id": 7}})
    # A text result is counted as its text, not as an escaped JSON string.
    report = 'Order 7:\n  "shipped" on Monday\n  2 parcels'
    result = {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": report}, {"json": {"n": 2}}]}}
    assert block_text(result) == "\n".join(["tooluse_1", report, json.dumps({"n": 2})])
    failed = {"toolResult": {"toolUseId": "t", "content": [{"text": "boom"}], "status": "error"}}
    assert block_text(failed).endswith("\nerror")
    for block in (spec, use, result):
        assert count_block(block) == count_text(block_text(block))
        assert count_block(block, claude=True) == count_text(block_text(block), claude=True)
    assert count_block({"cachePoint": {"type": "default"}}) == 0


def test_request_count_is_the_sum_of_its_blocks_and_ignores_inference_config():
    spec = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
    request = {
        "toolConfig": {"tools": [spec, {"cachePoint": {"type": "default"}}]},
        "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "hi there"}]}],
        "inferenceConfig": {"maxTokens": 100},
    }
    for claude in (False, True):
        expected = count_block(spec, claude) + count_text("be brief", claude) + count_text("hi there", claude)
        assert count_request(request, claude) == expected
        assert count_request({**request, "inferenceConfig": {"maxTokens": 5}}, claude) == expected
