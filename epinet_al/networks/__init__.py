"""Networks: the uncertainty heads (plain MLP, epinet, MC dropout, ensemble), their initialisation, the ENN wrapper."""

from epinet_al.networks.build import HEADS, build_head
from epinet_al.networks.dropout import DropoutHead
from epinet_al.networks.encoder_dropout import EncoderDropoutHead
from epinet_al.networks.enn import ENN
from epinet_al.networks.ensemble import EnsembleHead
from epinet_al.networks.epinet import EnsemblePrior, EpinetHead, IndexedMLP
from epinet_al.networks.head import Head, MLPHead
from epinet_al.networks.initializers import reference_init_, reference_linear
from epinet_al.networks.mlp import MLP

__all__ = [
    "ENN",
    "HEADS",
    "MLP",
    "DropoutHead",
    "EncoderDropoutHead",
    "EnsembleHead",
    "EnsemblePrior",
    "EpinetHead",
    "Head",
    "IndexedMLP",
    "MLPHead",
    "build_head",
    "reference_init_",
    "reference_linear",
]
