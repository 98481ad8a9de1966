"""The README, as HACS shows it to users: what they need first, developer commands last."""

from __future__ import annotations

from pathlib import Path
import re

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
SECTIONS = re.split(r"^## ", README, flags=re.MULTILINE)
TITLES = [section.partition("\n")[0].strip() for section in SECTIONS[1:]]


def test_the_readme_opens_with_what_a_user_needs() -> None:
    """No developer command before the first section; installation and configuration first."""
    assert "scripts/" not in SECTIONS[0]
    assert ".ci/" not in SECTIONS[0]
    assert TITLES[:2] == ["Installation (HACS)", "Configuration"]


def test_developer_commands_have_a_section_of_their_own_near_the_end() -> None:
    """The Development section names the two commands and comes after every user section."""
    assert TITLES[-1] == "Development"
    development = SECTIONS[-1]
    assert "`scripts/develop`" in development
    assert "`scripts/setup && scripts/test`" in development
    for section in SECTIONS[1:-1]:
        assert "scripts/setup && scripts/test" not in section
