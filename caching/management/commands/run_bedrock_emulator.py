"""`manage.py run_bedrock_emulator`: a thin wrapper over `bedrock.emulator.server`, which also runs without Django."""

from django.core.management.base import BaseCommand

from bedrock.emulator.server import add_arguments, run_from_options


class Command(BaseCommand):
    help = (
        "Run the local Amazon Bedrock Runtime emulator (Converse, ConverseStream, CountTokens) with Bedrock's "
        "prompt-cache rules. Point boto3 at it with AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://HOST:PORT."
    )
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        run_from_options(options, out=self.stdout)
