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
