"""Every relative link of the README and docs/ leads somewhere: a file that exists and, for an #anchor, a heading in it.

Anchors are GitHub's: a heading's text, lower case, with what is neither a
letter, a digit, a space, a hyphen nor an underscore dropped and spaces made
hyphens; a second heading of the same text gets ``-1``.
"""

import re
from pathlib import Path

from tests.guests import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCED_BLOCK = re.compile(r"^ *```.*?^ *```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\]\n]|\n(?!\n))*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.*?) *#*$", re.MULTILINE)


def prose(page: Path) -> str:
    """The page without its code, where a bracket is not a link."""
    return FENCED_BLOCK.sub("", page.read_text())


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(prose(page)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = sum(1 for anchor in found if anchor == slug or re.fullmatch(re.escape(slug) + r"-\d+", anchor))
        found.add(f"{slug}-{count}" if count else slug)
    return found


def relative_links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("code", prose(page))  # a link's text may be code; code itself holds no link
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z+.-]*:", target)]


def broken(page: Path, target: str) -> str | None:
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    if not linked.exists():
        return f"{target}: no file {linked.relative_to(REPO) if linked.is_relative_to(REPO) else linked}"
    if anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
        return f"{target}: no heading #{anchor} in {linked.relative_to(REPO)}"
    return None


def test_the_pages_have_links_to_check():
    assert len(PAGES) >= 10
    assert sum(len(relative_links(page)) for page in PAGES) >= 20


def test_every_relative_link_points_to_a_file_and_heading_that_exist():
    problems = [f"{page.relative_to(REPO)}: {problem}" for page in PAGES for target in relative_links(page)
                if (problem := broken(page, target))]
    assert not problems, "\n".join(problems)


def test_an_anchor_is_the_heading_as_github_spells_it(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Many guests: `suite`\n\n## A platform's fingerprint\n\n## Title\n\n"
                    "```sh\n# not a heading\n```\n")
    assert anchors(page) == {"title", "many-guests-suite", "a-platforms-fingerprint", "title-1"}
