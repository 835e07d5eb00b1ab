"""Networks: the uncertainty heads (plain MLP, epinet, MC dropout, ensemble), their initialisation, the ENN wrapper.

The names below are imported on first use: ``epinet_al.networks.specs`` (the model and head options)
stays importable without torch.
"""

from epinet_al.registry import lazy_exports

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

__getattr__ = lazy_exports(__name__, _EXPORTS)
