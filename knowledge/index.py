"""Build, persist and load the FAISS index of passages and their phrasings.

The index holds one row per passage text and one per authored phrasing; each
row maps back to its passage. The side file records a fingerprint of every
input (leaflet, layout, phrasings, model, format version). A missing or stale
index is rebuilt automatically. Only index files this module wrote are read.

Run ``python -m knowledge.index`` to (re)build it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import faiss
import yaml

from knowledge import settings
from knowledge.passages import Passage, load_passages

logger = logging.getLogger(__name__)

FORMAT_VERSION = 6
_MEDICINE_NAME = re.compile(r"\b(?:imiquimod|aldara|zyclara|(?:the|this) cream)\b", re.IGNORECASE)


@dataclass(frozen=True)
class IndexRow:
    """One indexed text and the passage it stands for."""

    passage_id: str
    kind: str  # "passage", "phrasing" or "unanswerable"
    text: str


@dataclass
class LoadedIndex:
    """An index in memory.

    Attributes:
        index: The FAISS inner-product index over unit vectors.
        rows: Row metadata, aligned with the index.
        passages: Passages by id, in leaflet order.
        fingerprint: The input fingerprint it was built from.
    """

    index: faiss.Index
    rows: List[IndexRow]
    passages: Dict[str, Passage]
    fingerprint: str


def load_phrasings(path: Path = settings.PHRASINGS_PATH) -> Dict[str, List[str]]:
    """Read the authored alternative phrasings.

    Args:
        path: The phrasings YAML file.

    Returns:
        Phrasings by passage id (empty when the file is absent).
    """
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return {str(k): [str(q) for q in (v or [])] for k, v in (data.get("phrasings") or {}).items()}


def load_unanswerable(path: Path = settings.UNANSWERABLE_PATH) -> List[str]:
    """Read the questions the leaflet does not answer.

    Args:
        path: The YAML file.

    Returns:
        The questions (empty when the file is absent).
    """
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return [str(q) for q in data.get("unanswerable") or []]


def fingerprint() -> str:
    """Hash every input of the index.

    Returns:
        A hex digest that changes whenever the leaflet, the layout, the
        phrasings, the lexicon, the model or the index format changes.
    """
    digest = hashlib.sha256()
    for path in (
        settings.LEAFLET_PATH,
        settings.LAYOUT_PATH,
        settings.PHRASINGS_PATH,
        settings.UNANSWERABLE_PATH,
        settings.LEXICON_PATH,
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    digest.update(
        f"{settings.MODEL_NAME} quantized={settings.QUANTIZE_MODEL} backend={settings.EMBEDDING_BACKEND}".encode()
    )
    digest.update(str(FORMAT_VERSION).encode())
    return digest.hexdigest()


def source_sha256() -> str:
    """Return the SHA-256 of the leaflet itself."""
    return hashlib.sha256(settings.LEAFLET_PATH.read_bytes()).hexdigest()


def collect_rows(passages: List[Passage], phrasings: Dict[str, List[str]], unanswerable: List[str]) -> List[IndexRow]:
    """List the texts to index.

    Args:
        passages: The leaflet's passages.
        phrasings: Authored phrasings by passage id.
        unanswerable: Questions the leaflet does not answer.

    Returns:
        One row per passage, then one per phrasing, then one per
        unanswerable question (with an empty passage id).

    Raises:
        ValueError: A phrasing names a passage id that does not exist.
    """
    known = {p.id for p in passages}
    unknown = sorted(set(phrasings) - known)
    if unknown:
        raise ValueError(f"phrasings.yml names unknown passage ids: {unknown}")
    rows = [IndexRow(p.id, "passage", p.text) for p in passages]
    for passage in passages:
        for question in phrasings.get(passage.id, []):
            rows.extend(IndexRow(passage.id, "phrasing", v) for v in variants(question))
    for question in unanswerable:
        rows.extend(IndexRow("", "unanswerable", v) for v in variants(question))
    return rows


def variants(question: str) -> List[str]:
    """Spell a question the ways patients name the medicine.

    The embedding model weighs "imiquimod", "the cream" and "it" very
    differently, so a question that names the medicine is also indexed with
    the other two namings.

    Args:
        question: An authored question.

    Returns:
        The question and its variants, without duplicates.
    """
    found = [question]
    if _MEDICINE_NAME.search(question):
        for naming in ("it", "imiquimod", "the cream"):
            variant = _MEDICINE_NAME.sub(naming, question)
            if variant not in found:
                found.append(variant)
    return found


def build(index_dir: Path = settings.INDEX_DIR) -> LoadedIndex:
    """Embed every row and write the index and its side file.

    Args:
        index_dir: Folder to write into.

    Returns:
        The freshly built index.
    """
    from knowledge.embedder import embed

    passages = load_passages()
    rows = collect_rows(passages, load_phrasings(), load_unanswerable())
    vectors = embed([r.text for r in rows])
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    fp = fingerprint()
    meta = {
        "format_version": FORMAT_VERSION,
        "fingerprint": fp,
        "source_sha256": source_sha256(),
        "model": settings.MODEL_NAME,
        "passages": [p.to_dict() for p in passages],
        "rows": [r.__dict__ for r in rows],
    }
    index_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write_index(index, index_dir / settings.INDEX_FILE_NAME)
    _atomic_write_text(json.dumps(meta, indent=1), index_dir / settings.META_FILE_NAME)
    logger.info("Built index: %d passages, %d rows", len(passages), len(rows))
    return LoadedIndex(index, rows, {p.id: p for p in passages}, fp)


def read(index_dir: Path = settings.INDEX_DIR) -> Optional[LoadedIndex]:
    """Read a persisted index if it is present and current.

    Args:
        index_dir: Folder to read from.

    Returns:
        The index, or None when it is missing or stale.
    """
    meta_path = index_dir / settings.META_FILE_NAME
    index_path = index_dir / settings.INDEX_FILE_NAME
    if not meta_path.exists() or not index_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != fingerprint():
        return None
    index = faiss.read_index(str(index_path))
    rows = [IndexRow(**r) for r in meta["rows"]]
    if index.ntotal != len(rows):
        return None
    passages = {p["id"]: Passage(**p) for p in meta["passages"]}
    return LoadedIndex(index, rows, passages, meta["fingerprint"])


def load_or_build(index_dir: Path = settings.INDEX_DIR) -> LoadedIndex:
    """Return the current index, rebuilding it when missing or stale.

    Args:
        index_dir: Folder of the persisted index.

    Returns:
        The loaded index.
    """
    faiss.omp_set_num_threads(settings.FAISS_THREADS)
    loaded = read(index_dir)
    if loaded is None:
        logger.info("Index missing or stale in %s; rebuilding", index_dir)
        loaded = build(index_dir)
    return loaded


def _atomic_write_index(index: faiss.Index, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    faiss.write_index(index, tmp)
    os.replace(tmp, path)


def _atomic_write_text(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main() -> None:
    """Build the index if it is missing or stale, and say what was done."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    loaded = read()
    if loaded is None:
        loaded = build()
        print(f"index built: {len(loaded.passages)} passages, {len(loaded.rows)} rows")
    else:
        print(f"index current: {len(loaded.passages)} passages, {len(loaded.rows)} rows")


if __name__ == "__main__":
    main()
