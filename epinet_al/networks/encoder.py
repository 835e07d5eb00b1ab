"""Hugging Face encoders as the ENN's body: found by hub id, local folder or installed package; pooled to [B, F].

``model.path`` names the weights and the tokenizer (``epinet_al.networks.model_files``).

Pooling turns the encoder's token states [B, L, H] into features [B, H]: ``pooler`` is BERT's pooled
output tanh(W h_CLS + b), the features of the reference epinet; ``cls`` is the [CLS] hidden state
itself, for encoders whose pooler was never trained for the task at hand (MiniLM from
sentence-transformers); ``mean`` averages the states of the real (unpadded) tokens.

Partial fine-tuning (``model.finetune=top``) cuts a BERT-family encoder (its layers in ``encoder.layer``:
BERT, RoBERTa, XLM-R, ELECTRA, MPNet, MiniLM) in two: ``LowerLayers``, the embeddings and the first L - k
layers, runs once per example and its output is cached; ``top_layers``, the last k layers and the pooler,
is the body that trains, on those cached states.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from epinet_al.networks.model_files import resolve_model_path
from epinet_al.networks.specs import POOLINGS, check_trainable_layers


def load_tokenizer(cfg: Any) -> Any:
    """The tokenizer of ``cfg.path`` (a fast tokenizer: batch tokenization of whole splits)."""
    from transformers import AutoTokenizer  # imported here: slow to import, and only encoder runs need it

    return from_hub(AutoTokenizer.from_pretrained, cfg)


def from_hub(load: Callable[[str], Any], cfg: Any, **kwargs: Any) -> Any:
    """``load(<cfg.path resolved>)``, a ``transformers`` ``from_pretrained``. A hub model that is neither in
    the cache nor reachable fails with Hugging Face's text, which names neither the model nor a way out."""
    path = resolve_model_path(cfg.path)
    try:
        return load(path, **kwargs)
    except OSError as error:
        if Path(path).is_dir():
            raise
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise OSError(
            f"model={cfg.name} (model.path={cfg.path!r}) cannot be loaded: not in the Hugging Face cache and the hub "
            f"did not answer ({reason}); run once with network access to cache it, or use model=minilm (offline)"
        ) from None


def tokenizer_identity(tokenizer: Any) -> dict[str, Any]:
    """What the tokens of a text depend on: the tokenizer's full serialization (vocabulary, rules) and class."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    content = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return {
        "class": type(tokenizer).__name__,
        "content": hashlib.sha256(content.encode()).hexdigest(),
        "input_names": list(tokenizer.model_input_names),
    }


def encoder_identity(cfg: Any) -> dict[str, Any]:
    """What an encoder's features depend on, besides the inputs: the weights and the pooling.

    A local folder stands for the content of its config and weight files, not for its path, so that a copy
    (another virtualenv's packaged MiniLM, a model copied to a node's scratch disk) finds the same caches;
    a hub id stands for itself; random weights are given by the config overrides and the seed.
    """
    resolved = resolve_model_path(cfg.path)
    identity: dict[str, Any] = {"pretrained": cfg.pretrained, "pooling": cfg.pooling}
    folder = Path(resolved)
    if cfg.pretrained and folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") or p.name == "config.json")
        identity["files"] = [(p.name, file_digest(p)) for p in files]
    else:
        identity["path"] = resolved
    if not cfg.pretrained:
        identity["config_overrides"] = dict(sorted(cfg.config_overrides.items()))
        identity["init_seed"] = cfg.init_seed
    return identity


def file_digest(path: Path) -> str:
    """The sha256 of a file's content, read once per process per version of the file (a model's weights take a
    moment to hash, far less than encoding a split)."""
    stat = path.stat()
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:  # size and time: a rewritten file is read again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_encoder(cfg: Any) -> Any:
    """The ``transformers.AutoModel`` named by ``cfg`` (pretrained, or random from its config)."""
    from transformers import AutoConfig, AutoModel

    if cfg.pretrained:
        if cfg.config_overrides:
            raise ValueError(
                f"model.config_overrides={dict(cfg.config_overrides)} change the architecture and need "
                "model.pretrained=false (random weights)"
            )
        encoder = from_hub(AutoModel.from_pretrained, cfg)
    else:
        config = from_hub(AutoConfig.from_pretrained, cfg, **cfg.config_overrides)
        with torch.random.fork_rng(devices=[]):  # the global RNG stays as it was
            torch.manual_seed(cfg.init_seed)
            encoder = AutoModel.from_config(config)
    if cfg.dropout_rate is not None:
        if not 0.0 <= cfg.dropout_rate < 1.0:
            raise ValueError(f"model.dropout_rate must be in [0, 1), got {cfg.dropout_rate}")
        # Every dropout layer, attention included (BERT's attention reads its rate from nn.Dropout.p).
        for module in encoder.modules():
            if isinstance(module, nn.Dropout):
                module.p = cfg.dropout_rate
    return encoder


class EncoderBody(nn.Module):
    """Token inputs (input_ids, attention_mask[, token_type_ids], each [B, L]) -> pooled features [B, H]."""

    def __init__(self, encoder: Any, pooling: str):  # a transformers PreTrainedModel
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown model.pooling {pooling!r}; valid poolings: {', '.join(POOLINGS)}")
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise ValueError(
                f"model.pooling='pooler' needs an encoder with a pooler layer, and {type(encoder).__name__} has "
                "none; use pooling=cls or pooling=mean"
            )
        self.encoder = encoder
        self.pooling = pooling
        self.feature_dim: int = encoder.config.hidden_size

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        outputs = self.encoder(**inputs)
        if self.pooling == "pooler":
            return outputs.pooler_output
        states = outputs.last_hidden_state  # [B, L, H]
        if self.pooling == "cls":
            return states[:, 0]
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)  # [B, L, 1]
        return (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def build_encoder_body(cfg: Any) -> EncoderBody:
    """The body of ``cfg``: the whole encoder, or with ``model.finetune=top`` its top layers (``top_layers``)."""
    encoder = load_encoder(cfg)
    return EncoderBody(top_layers(encoder, cfg) if cfg.finetune == "top" else encoder, cfg.pooling)


def encoder_layer_count(cfg: Any) -> int:
    """The number of transformer layers of ``cfg``'s encoder, read from its config alone (no weights loaded)."""
    from transformers import AutoConfig

    return from_hub(AutoConfig.from_pretrained, cfg, **cfg.config_overrides).num_hidden_layers


def encoder_width(cfg: Any) -> int:
    """The width H of ``cfg``'s encoder's pooled features, read from its config alone (no weights loaded)."""
    from transformers import AutoConfig

    return from_hub(AutoConfig.from_pretrained, cfg, **cfg.config_overrides).hidden_size


def _layers(encoder: Any, cfg: Any) -> nn.ModuleList:
    """The encoder's transformer layers in order, after checking ``cfg.trainable_layers`` against their count."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(
            f"model.finetune=top needs a BERT-family encoder (its layers in encoder.layer), and "
            f"{type(encoder).__name__} has none; use model.finetune=full or model.finetune=frozen"
        )
    check_trainable_layers(cfg, len(layers))
    return layers


class _CachedStates(nn.Module):
    """Stands in for the embeddings of the top layers: their input (``inputs_embeds``) is the cached output
    of the layer below them, passed on unchanged."""

    def forward(self, inputs_embeds: torch.Tensor, **_: Any) -> torch.Tensor:
        return inputs_embeds


def top_layers(encoder: Any, cfg: Any) -> nn.Module:
    """The encoder's last ``cfg.trainable_layers`` layers (and its pooler with ``pooling=pooler``), in place.

    It takes ``inputs_embeds`` (the hidden states [B, L, H] that ``LowerLayers`` gives) and ``attention_mask``
    [B, L] and runs the encoder's own forward from there (its attention mask, its pooler), so its outputs are
    those of the whole encoder. The embeddings and the lower layers are dropped: they never train.
    """
    layers = _layers(encoder, cfg)
    encoder.embeddings = _CachedStates()
    if hasattr(encoder, "embeddings_project"):  # ELECTRA's projection of the embeddings: cached with them
        encoder.embeddings_project = nn.Identity()
    encoder.encoder.layer = layers[len(layers) - cfg.trainable_layers :]
    if cfg.pooling != "pooler":
        encoder.pooler = None  # unused: it would sit in the optimizer without a gradient
    return encoder


class LowerLayers(nn.Module):
    """Token inputs (each [B, L]) -> the hidden states [B, L, H] of layer L - k, the top k layers' input:
    the embeddings and the first L - k layers of the encoder of ``cfg`` (only the embeddings when k = L)."""

    def __init__(self, cfg: Any):
        super().__init__()
        encoder = load_encoder(cfg)
        layers = _layers(encoder, cfg)
        encoder.encoder.layer = layers[: len(layers) - cfg.trainable_layers]
        encoder.pooler = None
        self.encoder = encoder

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(**inputs).last_hidden_state


def encoder_param_groups(body: EncoderBody, lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """Optimizer groups of a fine-tuned encoder: its own learning rate; no decay on biases and LayerNorm.

    BERT's recipe: weight decay on matrices only (the 1-D parameters are the biases and LayerNorm gains,
    and shrinking those towards 0 is no complexity penalty). Frozen parameters are left out.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in body.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    return [
        {"params": decay, "lr": lr, "weight_decay": weight_decay},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0},
    ]
