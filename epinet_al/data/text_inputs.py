"""Tokenized texts as pool inputs: a split is tokenized once, cached on disk, and padded per batch.

The token ids of N examples are stored flat ([T] for T tokens in all) with offsets [N + 1], so a split
of any size is two tensors, and ``take`` pads a batch only to its own longest member (dynamic padding).
Pairs are encoded as the tokenizer joins them ([CLS] a [SEP] b [SEP] for BERT) with token type ids,
truncated longest first to ``max_length`` tokens.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import torch

from epinet_al.data.disk_cache import cache_file, load_tensors, save_tensors
from epinet_al.data.glue_files import TextExamples
from epinet_al.data.inputs import SequenceInputs

log = logging.getLogger(__name__)


class TokenizedInputs(SequenceInputs):
    """Token ids of N examples; ``take(indices)`` gives the model-ready batch, padded to its longest.

    Attributes:
        ids: [T] int32 token ids of all examples end to end.
        offsets: [N + 1] int64; example i is ids[offsets[i] : offsets[i + 1]].
        type_ids: [T] int8 token type (segment) ids, or None for tokenizers without them.
        pad_id: the id that fills padding positions.
    """

    def __init__(self, ids: torch.Tensor, offsets: torch.Tensor, type_ids: torch.Tensor | None, pad_id: int):
        fields = {"input_ids": ids}
        pads: dict[str, float] = {"input_ids": pad_id}
        if type_ids is not None:
            fields["token_type_ids"], pads["token_type_ids"] = type_ids, 0
        super().__init__(fields, offsets, pads)
        self.pad_id = pad_id

    @property
    def ids(self) -> torch.Tensor:
        return self.fields["input_ids"]

    @property
    def type_ids(self) -> torch.Tensor | None:
        return self.fields.get("token_type_ids")

    def state_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "offsets": self.offsets, "type_ids": self.type_ids, "pad_id": self.pad_id}


def tokenize(tokenizer: Any, examples: TextExamples, max_length: int) -> TokenizedInputs:
    """Tokenize every example (pairs truncated longest first to ``max_length`` tokens)."""
    encoded = tokenizer(examples.text_a, examples.text_b, truncation=True, max_length=max_length)
    lengths = torch.tensor([len(ids) for ids in encoded["input_ids"]], dtype=torch.long)
    offsets = torch.zeros(len(examples) + 1, dtype=torch.long)
    offsets[1:] = lengths.cumsum(0)
    ids = torch.tensor([i for seq in encoded["input_ids"] for i in seq], dtype=torch.int32)
    type_ids = None
    if "token_type_ids" in encoded:
        type_ids = torch.tensor([t for seq in encoded["token_type_ids"] for t in seq], dtype=torch.int8)
    return TokenizedInputs(ids, offsets, type_ids, tokenizer.pad_token_id)


def texts_digest(examples: TextExamples) -> str:
    """A hash of the texts of a split, so a cache never outlives a change of the data."""
    digest = hashlib.sha256()
    for texts in (examples.text_a, examples.text_b or []):
        digest.update("\x1f".join(texts).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def cached_tokenize(
    tokenizer: Any,
    tokenizer_key: dict[str, Any],
    examples: TextExamples,
    max_length: int,
    cache_dir: str | Path,
    name: str,
) -> tuple[TokenizedInputs, dict[str, Any]]:
    """``tokenize``, read from the cache when the same tokenizer saw the same texts with the same max length.

    Returns the tokens and the cache key, which anything computed from the tokens extends.
    """
    key = {"tokenizer": tokenizer_key, "texts": texts_digest(examples), "max_length": max_length}
    path = cache_file(cache_dir, "tokens", f"{name}-L{max_length}", key)
    if path.is_file():
        return TokenizedInputs(**load_tensors(path)), key
    log.info("tokenizing %d examples of %s into %s", len(examples), examples.source, path)
    tokens = tokenize(tokenizer, examples, max_length)
    save_tensors(path, tokens.state_dict())
    return tokens, key
