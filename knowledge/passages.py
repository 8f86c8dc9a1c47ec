"""Cut the leaflet into short, citable passages.

Every passage is a run of whole sentences copied from the leaflet, so the bot
can only ever quote the leaflet. The cut is described by ``layout.yml``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List

import yaml

from knowledge import settings

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


class LayoutError(ValueError):
    """The layout file does not match the leaflet."""


@dataclass(frozen=True)
class Passage:
    """One answerable unit of the leaflet.

    Attributes:
        id: Stable id, ``<section>-<n>``.
        section: Section id.
        title: Section title shown to patients.
        text: One to three sentences, verbatim from the leaflet.
    """

    id: str
    section: str
    title: str
    text: str

    def to_dict(self) -> Dict[str, str]:
        """Return the passage as a plain dict."""
        return asdict(self)


def split_sentences(paragraph: str) -> List[str]:
    """Split a paragraph into sentences.

    Args:
        paragraph: One line of the leaflet.

    Returns:
        The sentences, in order, each stripped.
    """
    return [s.strip() for s in _SENTENCE_END.split(paragraph.strip()) if s.strip()]


def is_heading(line: str) -> bool:
    """Tell whether a leaflet line is a heading rather than prose.

    Args:
        line: One line of the leaflet.

    Returns:
        True when the line has no final punctuation.
    """
    stripped = line.strip()
    return bool(stripped) and stripped[-1] not in ".?!"


def load_layout(path: Path = settings.LAYOUT_PATH) -> List[Dict[str, Any]]:
    """Read the paragraph layout.

    Args:
        path: The layout YAML file.

    Returns:
        The list of paragraph entries.
    """
    with path.open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["paragraphs"])


def parse_leaflet(text: str, layout: List[Dict[str, Any]]) -> List[Passage]:
    """Cut the leaflet text into passages following the layout.

    Args:
        text: The leaflet, as read from disk.
        layout: Paragraph entries from ``layout.yml``.

    Returns:
        The passages in leaflet order.

    Raises:
        LayoutError: A prose paragraph has no layout entry, or an entry's
            sentence counts do not add up to the paragraph's sentences.
    """
    passages: List[Passage] = []
    used: set = set()
    for line in text.splitlines():
        if not line.strip() or is_heading(line):
            continue
        entry = _entry_for(line, layout)
        used.add(entry["section"])
        sentences = split_sentences(line)
        sizes = [int(n) for n in entry["passages"]]
        if sum(sizes) != len(sentences) or not all(1 <= n <= 3 for n in sizes):
            raise LayoutError(
                f"Section {entry['section']!r}: layout groups {sizes} do not fit "
                f"the paragraph's {len(sentences)} sentences."
            )
        start = 0
        for number, size in enumerate(sizes, start=1):
            passages.append(
                Passage(
                    id=f"{entry['section']}-{number}",
                    section=entry["section"],
                    title=entry["title"],
                    text=" ".join(sentences[start : start + size]),
                )
            )
            start += size
    unused = [e["section"] for e in layout if e["section"] not in used]
    if unused:
        raise LayoutError(f"Layout entries match no paragraph: {unused}")
    return passages


def _entry_for(line: str, layout: List[Dict[str, Any]]) -> Dict[str, Any]:
    for entry in layout:
        if line.strip().startswith(entry["starts_with"]):
            return entry
    raise LayoutError(f"No layout entry for the paragraph starting {line.strip()[:60]!r}; update knowledge/layout.yml.")


def load_passages() -> List[Passage]:
    """Read and cut the leaflet shipped in ``knowledge/``.

    Returns:
        The passages in leaflet order.
    """
    text = settings.LEAFLET_PATH.read_text(encoding="utf-8")
    return parse_leaflet(text, load_layout())
