import os

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
        if settings.AWS_ENDPOINT_URL_BEDROCK_RUNTIME:
            os.environ.setdefault("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", settings.AWS_ENDPOINT_URL_BEDROCK_RUNTIME)
