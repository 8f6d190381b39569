"""What an accessibility checker flagged, held for every template: no table header is empty (an
action column carries a label screen readers read)."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_no_template_has_an_empty_table_header() -> None:
    empty = re.compile(r"<th(\s[^>]*)?>\s*</th>")
    offenders = [
        path.relative_to(TEMPLATES).as_posix()
        for path in sorted(TEMPLATES.rglob("*.html"))
        if empty.search(path.read_text())
    ]

    assert offenders == []
