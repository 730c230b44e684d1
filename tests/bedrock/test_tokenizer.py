from bedrock.tokenizer import (
    canonical_json,
    count_block,
    count_request,
    count_text,
    first_tokens,
    split_tokens,
    tokenize,
)


def test_words_numbers_and_punctuation_are_tokens():
    assert tokenize("Hello, world 42!") == ["Hello", ",", "world", "42", "!"]
    assert tokenize("snake_case x2 héllo") == ["snake", "_", "case", "x", "2", "héllo"]
    assert count_text("") == 0
    assert count_text("  \n\t ") == 0


def test_counting_is_stable_and_whitespace_insensitive():
    assert count_text("a  b\n\nc") == count_text("a b c") == 3


def test_canonical_json_is_key_order_independent():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})
    assert canonical_json({"x": "é"}) == '{"x":"é"}'


def test_blocks_text_counts_its_text_and_other_blocks_their_json():
    assert count_block({"text": "one two three"}) == 3
    assert count_block({"cachePoint": {"type": "default"}}) == 0
    tool_use = {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"id": 7}}}
    assert count_block(tool_use) == count_text(canonical_json(tool_use)) > 0


def test_request_count_is_the_sum_of_its_blocks_and_ignores_inference_config():
    spec = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
    request = {
        "toolConfig": {"tools": [spec, {"cachePoint": {"type": "default"}}]},
        "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "hi there"}]}],
        "inferenceConfig": {"maxTokens": 100},
    }
    assert count_request(request) == count_block(spec) + 2 + 2
    assert count_request({**request, "inferenceConfig": {"maxTokens": 5}}) == count_request(request)


def test_first_tokens_and_split_tokens_cut_on_token_boundaries():
    text = "alpha, beta gamma. delta"
    assert first_tokens(text, 2) == "alpha,"
    assert first_tokens(text, 100) == text
    pieces = split_tokens(text, 2)
    assert "".join(p for p, _ in pieces) == text
    assert [n for _, n in pieces] == [2, 2, 2]
