"""Run the exported sentence-transformers model on ONNX Runtime directly.

sentence-transformers' ``encode`` with its ONNX backend goes through the
``transformers`` tokenizer wrapper, torch tensors and optimum's model class
around the same ONNX graph; for a one- or two-sentence query that wrapping
cost about a quarter of the embedding time. This encoder runs the same steps
itself: the model's own ``tokenizer.json`` (truncated at the model's
``max_seq_length``, padded to the longest text), the graph, mean pooling
over the attention mask and unit length (the model's ``Pooling`` and
``Normalize`` modules). Its vectors equal sentence-transformers' to float
precision (tested).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np


class OnnxEncoder:
    """A mean-pooled, normalised sentence encoder over an exported ONNX model folder.

    Args:
        folder: A sentence-transformers model saved with the ONNX backend
            (``onnx/model.onnx``, ``tokenizer.json``, ``sentence_bert_config.json``,
            ``1_Pooling/config.json``).
        threads: ONNX Runtime's intra-op threads.
    """

    def __init__(self, folder: Path, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"{folder} does not use mean pooling; load it with sentence-transformers instead.")
        self.dimension: int = int(pooling["word_embedding_dimension"])
        max_length = int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length)
        pad_token = "[PAD]"
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad_token) or 0, pad_token=pad_token)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / "onnx" / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as unit vectors.

        Args:
            texts: The texts, already normalised.

        Returns:
            A float32 array of shape ``(len(texts), dimension)``.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)
