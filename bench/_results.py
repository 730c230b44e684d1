"""Writing a benchmark's section of bench/RESULTS.md; shared by the benchmark scripts (not one itself)."""

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, text: str, *, notes: tuple[str, str] | None = None) -> None:
    """Replace `section` ("## Title") of RESULTS.md with `text` (or append it), leaving the others as they are.

    With `notes=(start, end)`, a block between those markers in the old section (written by hand) is
    kept, at the end of the new one.
    """
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    block = text.rstrip("\n") + "\n\n"
    old = pattern.search(current)
    if old:
        if notes and (kept := re.search(rf"{re.escape(notes[0])}.*?{re.escape(notes[1])}", old.group(0), re.DOTALL)):
            block += kept.group(0) + "\n\n"
        updated = pattern.sub(lambda _: block, current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(updated.rstrip("\n") + "\n")
