"""Amazon Bedrock, without AWS and without Django: its facts, its tokenizer and its prompt-cache rules.

A plain library beside the Django apps; it imports nothing from them, nor
from Django. Modules, bottom up:

- ``facts``: models, their limits and prompt-cache rules, request field names
  (data; the catalog migration and the agent runtime read it);
- ``tokenizer``: the one token count, Claude's published BPE vocabulary (``data/``,
  needs the ``tokenizers`` package, loaded on first count) with Claude's measured rules;
- ``errors``: Bedrock's error types (``BedrockError``);
- ``prefix`` and ``cache``: prefix hashing at checkpoints, minimums,
  look-back, TTL and the usage split;
- ``engine``: one Converse request through all of those, in-process;
- ``emulator``: an HTTP server speaking Bedrock Runtime's protocol on top of
  the engine (``python -m bedrock.emulator``).

Public API: ``PromptCacheEngine`` (``apply(model_id, request, now=...)`` gives a
``RequestUsage`` whose ``usage()`` is Converse's usage block), ``Clock`` and
``BedrockError``; the facts are read from ``bedrock.facts``.
"""

from bedrock.cache import Clock
from bedrock.engine import PromptCacheEngine, RequestUsage
from bedrock.errors import BedrockError

__all__ = ["BedrockError", "Clock", "PromptCacheEngine", "RequestUsage"]
