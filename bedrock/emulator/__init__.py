"""A local Amazon Bedrock Runtime emulator: Bedrock's wire protocol over the prompt-cache engine.

Start one with ``python -m bedrock.emulator --port N`` (or
``python manage.py run_bedrock_emulator``), or in-process with
``bedrock.emulator.server.start()``. Point boto3 at it with
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and dummy credentials.

Layers, top down: ``server`` (HTTP, faults, latency, event-stream encoding) →
``service`` (one call: the engine, the reply, stats) → ``bedrock.engine`` and
``model`` (deterministic replies).
"""
