import os
from urllib.parse import urlparse

from django.apps import AppConfig
from django.conf import settings


class AgentsAppConfig(AppConfig):
    name = "agents_app"
    verbose_name = "Agents"

    def ready(self):
        # boto3 (and so Strands' BedrockModel) reads its region and endpoint from the environment;
        # hand it the settings' values unless the environment already says otherwise.
        os.environ.setdefault("AWS_REGION", settings.AWS_REGION)
        os.environ.setdefault("AWS_DEFAULT_REGION", settings.AWS_REGION)
        endpoint = settings.AWS_ENDPOINT_URL_BEDROCK_RUNTIME
        if endpoint:
            os.environ.setdefault("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", endpoint)
        if urlparse(endpoint).hostname in ("127.0.0.1", "localhost", "::1"):
            # The local emulator checks no signature, but boto3 will not send a request it cannot sign.
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "local-emulator")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local-emulator")
