"""Networks: the uncertainty heads (plain MLP, epinet, MC dropout, ensemble), their initialisation, the ENN wrapper.

The names below are imported on first use: ``epinet_al.networks.specs`` (the model and head options)
stays importable without torch.
"""

import importlib
from typing import Any

_EXPORTS = {
    "ENN": "enn",
    "HEADS": "specs",
    "MODELS": "specs",
    "MLP": "mlp",
    "DropoutHead": "dropout",
    "EncoderDropoutHead": "encoder_dropout",
    "EnsembleHead": "ensemble",
    "EnsemblePrior": "epinet",
    "EpinetHead": "epinet",
    "Head": "head",
    "IndexedMLP": "epinet",
    "MLPHead": "head",
    "build_head": "build",
    "reference_init_": "initializers",
    "reference_linear": "initializers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
