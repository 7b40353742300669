"""The docs build: every relative link in README.md and docs/*.md reaches a file (and, for a
Markdown file, a heading), and docs/config.md is what scripts/gen_config_reference.py writes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#+ (.*)", line)):
            base = slug(match.group(1))
            name, k = base, 0
            while name in found:  # GitHub numbers repeated headings: name, name-1, name-2...
                k += 1
                name = f"{base}-{k}"
            found.add(name)
    return found


def broken_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading)")
    return broken


def test_the_link_check_finds_a_broken_link(tmp_path):
    (tmp_path / "b.md").write_text("# Part one\n\n## Part one\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#part-one) [ok too](b.md#part-one-1) [no heading](b.md#part-two) [no file](c.png)\n"
                    "`[code](x.md)` [web](https://example.org) [here](#top)\n\n# Top\n")
    assert broken_links(page) == ["b.md#part-two (no heading)", "c.png (no file)"]


def test_every_relative_link_resolves():
    assert {page.name: broken_links(page) for page in PAGES if broken_links(page)} == {}


def test_the_config_reference_is_generated(load_script):
    generator = load_script("gen_config_reference")
    assert (ROOT / "docs" / "config.md").read_text() == generator.render(), \
        "docs/config.md is stale: python scripts/gen_config_reference.py"
