"""`manage.py run_bedrock_emulator`, the Django face of `python -m bedrock.emulator`."""

from django.core.management import call_command

from caching.management.commands import run_bedrock_emulator


def test_django_command_is_a_thin_wrapper(monkeypatch):
    seen = {}
    monkeypatch.setattr(run_bedrock_emulator, "run_from_options", lambda options, out=None: seen.update(options))
    call_command("run_bedrock_emulator", "--port", "0", "--error-rate", "0.02", "--seed", "1")
    assert (seen["port"], seen["error_rate"], seen["seed"], seen["host"]) == (0, 0.02, 1, "127.0.0.1")
