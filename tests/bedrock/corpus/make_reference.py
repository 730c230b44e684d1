"""Regenerate reference.json, the reference token counts of the corpus beside this file.

Not run by the tests (they read reference.json). Two references per sample:

- ``published_vocabulary``: the count of the raw text by Claude's published BPE
  vocabulary (bedrock/data/claude-tokenizer.json) through Hugging Face
  ``tokenizers``' full pipeline, not the emulator's own code path;
- ``claude``: the count by ``ctok`` 1.3.0 (MIT, on PyPI), an offline
  reconstruction of the tokenizer Claude 3 through Claude Opus 4.6 share, of the
  text sent as one user message, minus that message's 7 framing tokens. Its
  authors report exact agreement with recorded count_tokens answers on held-out
  corpora; it also reproduces, exactly, all 120 Claude Haiku 4.5 count_tokens
  answers that the bpe-lite project recorded for its own corpus (2026-03-19).

Run with Python 3.12 or later (ctok requires it): ``pip install ctok==1.3.0 tokenizers``,
then ``python tests/bedrock/corpus/make_reference.py``.
"""

import json
from pathlib import Path

from ctok import token_count
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
VOCABULARY = HERE.parents[2] / "bedrock" / "data" / "claude-tokenizer.json"
FRAME = token_count("Hi") - 1  # "Hi" is one token; the rest is the single user message's frame


def main() -> None:
    vocabulary = Tokenizer.from_file(str(VOCABULARY))
    samples = {}
    for path in sorted(HERE.iterdir()):
        if path.name in ("reference.json", "make_reference.py") or path.name.startswith("."):
            continue
        text = path.read_text()
        samples[path.name] = {
            "kind": path.name.split("_", 1)[0],
            "chars": len(text),
            "published_vocabulary": len(vocabulary.encode(text, add_special_tokens=False).ids),
            "claude": token_count(text) - FRAME,
        }
    reference = {
        "claude": "ctok 1.3.0, Claude 3 to Opus 4.6 family, one user message minus its frame",
        "frame_tokens": FRAME,
        "published_vocabulary": "anthropic SDK 0.38.0 tokenizer.json through tokenizers",
        "samples": samples,
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")


if __name__ == "__main__":
    main()
