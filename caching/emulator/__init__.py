"""A local Amazon Bedrock Runtime emulator with Bedrock's prompt-cache semantics.

Start one with ``python -m caching.emulator --port N`` (or
``python manage.py run_bedrock_emulator``), or in-process with
``caching.emulator.server.start()``. Point boto3 at it with
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` and dummy credentials.
"""
