"""The README documents every environment variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_settings_variable_is_in_the_readme_configuration_table():
    settings = (ROOT / "agent_platform" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    variables = set(re.findall(r"env(?:str|bool|int|list|choice)\(\s*\"([A-Z0-9_]+)\"", settings))
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", readme, flags=re.MULTILINE))

    assert len(variables) > 30
    assert variables - documented == set()
