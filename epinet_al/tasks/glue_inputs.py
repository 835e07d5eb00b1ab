"""The model inputs of a GLUE run's rows, by ``model.finetune``: cached frozen features, cached hidden states of the
lower layers, or token ids.

Every split is tokenized once and cached on disk (``data/text_inputs.py``); what an encoder computes from the
tokens is cached under a key that extends the tokens' key (``data/feature_cache.py``, ``data/state_cache.py``), so a
change of texts, tokenizer, max length or encoder never reads a stale file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from epinet_al.data.disk_cache import cache_file
from epinet_al.data.feature_cache import cached_features
from epinet_al.data.glue_files import TextExamples
from epinet_al.data.inputs import Inputs, SequenceInputs, TensorInputs
from epinet_al.data.state_cache import cached_states
from epinet_al.data.text_inputs import TokenizedInputs, cached_tokenize
from epinet_al.networks.encoder import (
    LowerLayers,
    build_encoder_body,
    encoder_identity,
    encoder_layer_count,
    load_tokenizer,
    tokenizer_identity,
)
from epinet_al.networks.specs import EncoderModelConfig, check_trainable_layers
from epinet_al.tasks.glue_splits import GlueSplit


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[u, v, |u - v|, u * v] [N, 4F] from the features u, v [N, F] of the two sentences of N pairs.

    The pair classifier's input in sentence-transformers (SBERT's softmax loss: u, v, |u - v| and
    optionally u * v): the last two parts do not change when the sentences swap places.
    """
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)


class FrozenEncoder:
    """A frozen network's outputs of token batches (pooled features, or the lower layers' hidden states) under
    inference mode, on the CPU; the network (``build()``) is loaded on the first call.

    With every output already cached, a run never loads the encoder at all.
    """

    def __init__(self, build: Callable[[], torch.nn.Module], device: torch.device):
        self.build = build
        self.device = device
        self.body: torch.nn.Module | None = None

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.body is None:
            self.body = self.build().to(self.device).eval()
        with torch.inference_mode():
            return self.body({k: v.to(self.device) for k, v in batch.items()}).float().cpu()


class EncoderInputs:
    """The inputs of the encoder of ``model_cfg`` for the sets of rows of GLUE splits, with ``max_length`` tokens.

    ``frozen``: pooled features [R, F] (a pair with ``model.pair_encoding=separate``: ``pair_features`` of the two
    sentences, each cached as a single-sentence split of its own), optionally standardized with the pool's
    statistics. ``top``: the hidden states of layer L - k at each example's real length. ``full``: token ids.
    """

    def __init__(self, model_cfg: EncoderModelConfig, max_length: int, device: torch.device):
        self.cfg = model_cfg
        self.max_length = max_length
        self.tokenizer = load_tokenizer(model_cfg)
        self.tokenizer_key = tokenizer_identity(self.tokenizer)
        self.frozen = (
            FrozenEncoder(lambda: build_encoder_body(model_cfg), device) if model_cfg.finetune == "frozen" else None
        )
        if model_cfg.finetune == "top":  # the layer count from the encoder's config alone: checked before any work
            layers = encoder_layer_count(model_cfg)
            check_trainable_layers(model_cfg, layers)
            self.cached_layer = layers - (model_cfg.trainable_layers or 0)  # given: checked just above
            self.lower = FrozenEncoder(lambda: LowerLayers(model_cfg), device)

    def encode(self, split: GlueSplit) -> dict[str, tuple[Inputs, torch.Tensor]]:
        """The inputs and labels of each set of rows of ``split``; its caches are read once for all its sets."""
        examples, row_sets = split.examples, list(split.sets.values())
        if self.cfg.finetune == "top":
            parts: list[Inputs] = list(self.states(split.cache_name, examples, row_sets))
        elif self.frozen is None:
            tokens, _ = self.tokenize(split.cache_name, examples)
            parts = [tokens.subset(rows) for rows in row_sets]
        else:
            all_rows = torch.cat(row_sets)
            if examples.text_b is not None and self.cfg.pair_encoding == "separate":
                side_a = self.features(f"{split.cache_name}-a", replace(examples, text_b=None), all_rows)
                side_b = self.features(
                    f"{split.cache_name}-b", replace(examples, text_a=examples.text_b, text_b=None), all_rows
                )
                all_features = pair_features(side_a, side_b)
            else:
                all_features = self.features(split.cache_name, examples, all_rows)
            parts = [TensorInputs(part) for part in all_features.split([rows.shape[0] for rows in row_sets])]
        return {
            name: (part, examples.labels[rows]) for (name, rows), part in zip(split.sets.items(), parts, strict=True)
        }

    def standardizer(self, pool: Inputs) -> Callable[[Inputs], Inputs]:
        """Feature-wise (x - mean) / sd with the pool's statistics (its inputs, no labels) for frozen features
        (``TensorInputs``) with ``model.standardize``; else the identity."""
        if self.frozen is None or not self.cfg.standardize:
            return lambda inputs: inputs
        assert isinstance(pool, TensorInputs)
        mean, sd = pool.data.mean(0), pool.data.std(0).clamp_min(1e-6)

        def standardize(inputs: Inputs) -> Inputs:
            assert isinstance(inputs, TensorInputs)
            return TensorInputs((inputs.data - mean) / sd)

        return standardize

    def tokenize(self, name: str, examples: TextExamples) -> tuple[TokenizedInputs, dict]:
        return cached_tokenize(self.tokenizer, self.tokenizer_key, examples, self.max_length, self.cfg.cache_dir, name)

    def features(self, name: str, examples: TextExamples, rows: torch.Tensor) -> torch.Tensor:
        """The frozen features [R, F] of ``rows`` of texts (single or joined pairs), from the caches of ``name``."""
        tokens, key = self.tokenize(name, examples)
        assert self.frozen is not None  # features are computed in frozen mode only
        feature_key = {"tokens": key, "encoder": encoder_identity(self.cfg)}
        path = cache_file(self.cfg.cache_dir, "features", f"{name}-{self.cfg.name}-{self.cfg.pooling}", feature_key)
        return cached_features(path, tokens, rows, self.frozen, self.cfg.batch_size, name)

    def states(self, name: str, examples: TextExamples, row_sets: list[torch.Tensor]) -> list[SequenceInputs]:
        """The cached hidden states of layer ``cached_layer`` of each set of rows, from the caches of ``name``."""
        tokens, key = self.tokenize(name, examples)
        # The lower layers' outputs do not depend on the pooling: one file serves every pooling.
        encoder = {k: v for k, v in encoder_identity(self.cfg).items() if k != "pooling"}
        key = {"tokens": key, "encoder": encoder, "layer": self.cached_layer}
        path = cache_file(self.cfg.cache_dir, "states", f"{name}-{self.cfg.name}-layer{self.cached_layer}", key)
        layers = f"layers 1-{self.cached_layer}" if self.cached_layer else "embeddings"
        return cached_states(
            path, tokens, row_sets, self.lower, self.cfg.batch_size, f"{name}, {self.cfg.name} {layers}"
        )
