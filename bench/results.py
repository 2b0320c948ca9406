"""Writing a benchmark's figures into docs/benchmarks.md: one `## ` section per benchmark (and
database); a rerun replaces its own section and keeps the others and any hand-written `### `
subsections at the end of its own."""
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = ["# Benchmarks", "", "Produced by the scripts in `bench/`; rerun them to refresh the figures.", ""]


def write_section(heading: str, lines: list[str]) -> None:
    """Replace (or add) the section titled `heading` with `lines` (the heading first)."""
    sections = {}
    if RESULTS.exists():
        for chunk in RESULTS.read_text().split("\n## ")[1:]:
            title = "## " + chunk.split("\n", 1)[0]
            sections[title] = "## " + chunk.rstrip("\n") + "\n"
    kept = sections.get(heading, "").partition("\n### ")[2]
    sections[heading] = "\n".join(lines) + ("\n### " + kept if kept else "")
    RESULTS.write_text("\n".join(HEADER) + "\n" + "\n".join(sections[title] for title in sorted(sections)))


def _part_markers(name: str) -> tuple[str, str]:
    return f"<!-- bench part: {name} -->", f"<!-- end of bench part: {name} -->"


def write_part(heading: str, intro: list[str], part: str, lines: list[str], order: list[str]) -> None:
    """Replace one part of a section that several runs share (bench/pages.py: one part per mode):
    the section becomes `intro`, then each part named in `order` (this run's `lines` for `part`, the
    others as the file holds them), then the section's hand-written `### ` subsections, kept."""
    existing = ""
    if RESULTS.exists():
        for chunk in RESULTS.read_text().split("\n## ")[1:]:
            if "## " + chunk.split("\n", 1)[0] == heading:
                existing = chunk.partition("\n### ")[0]
    parts = {}
    for name in order:
        start, end = _part_markers(name)
        if name == part:
            parts[name] = "\n".join([start, *lines, end])
        elif start in existing and end in existing:
            parts[name] = start + existing.split(start, 1)[1].split(end, 1)[0] + end
    write_section(heading, [*intro, *(parts[name] + "\n" for name in order if name in parts)])
