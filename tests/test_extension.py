"""Adding a head and a priority touches only its spec, its module and its YAML file (docs/heads_and_priorities.md).

In a scratch copy of the package, the config tree and the tests, this test adds a linear head (no index) and a
marginal priority exactly as the docs tell a user to, then shows in that copy that the registries, the command's
option listing, the compose-time checks and the tests that cover every head and priority (their contexts and
expected messages derived from the specs) pick both up, without any test edited. A second list of names anywhere
(a registry kept beside the specs, a test that names the heads) makes it fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epinet_al.paths import CONFIG_DIR

REPO = Path(CONFIG_DIR).parent

# The three files of each addition, as docs/heads_and_priorities.md lists them (besides its docs row).
LINEAR_MODULE = '''\
"""A linear classifier head: one affine map of the features, no index."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from epinet_al.networks.head import Head


class LinearHead(Head):
    @classmethod
    def from_config(cls, cfg: Any, feature_dim: int, num_outputs: int) -> LinearHead:
        return cls(feature_dim, num_outputs)

    def __init__(self, feature_dim: int, num_outputs: int):
        super().__init__()
        self.feature_dim = feature_dim
        self.linear = nn.Linear(feature_dim, num_outputs)

    def sample_index(self, num: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.zeros(num, 0)

    def forward(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return self.linear(features).unsqueeze(0).expand(index.shape[0], -1, -1)
'''
LINEAR_CONFIG = '''

@dataclass
class LinearHeadConfig(HeadConfig):
    """A linear classifier head, no index."""

    name: str = "linear"


'''
LINEAR_SPEC = (
    '        HeadSpec("linear", LinearHeadConfig, "epinet_al.networks.linear:LinearHead.from_config", has_index=False,'
    " l2_rule=L2Rule(tuned=0.01, exponent=1.0)),\n"
)
LINEAR_YAML = "defaults:\n  - /schema/head/linear@_here_\n  - _self_\n"
RATIO_FUNCTION = '''

def ratio(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """pbar_(2) / pbar_(1): the second largest mean probability over the largest."""
    _check_logits(logits)
    top2 = marginal_log_probs(logits).exp().topk(2, dim=-1).values
    return (top2[:, 1] / top2[:, 0]).to(logits.dtype)
'''
RATIO_SPEC = '        PrioritySpec("ratio", f"{_P}:ratio", needs_index=False),\n'
RATIO_YAML = "defaults:\n  - /schema/acquisition/acquisition@_here_\n  - _self_\n\npriority: ratio\n"

# Run in the copy: the registries, the command's listing and a composed run's checks see the additions.
CHECKS = """
import epinet_al
from epinet_al.acquisition.priorities import get_priority
from epinet_al.acquisition.specs import PRIORITY_SPECS
from epinet_al.cli import group_options
from epinet_al.networks.build import build_head
from epinet_al.networks.specs import HEADS
from tests.spec_contexts import head_context, indexed_heads, marginal_priorities
from tests.tiny_configs import experiment_config

assert epinet_al.__file__.startswith({copy!r}), epinet_al.__file__
assert "linear" in HEADS and "ratio" in PRIORITY_SPECS
assert get_priority("ratio").__name__ == "ratio"
options = group_options()
assert "linear" in options["head"] and "ratio" in options["acquisition"], options
assert "ratio" in marginal_priorities() and "linear" not in indexed_heads()
assert experiment_config(["task=sst2", "model=minilm", "head=linear", "acquisition=ratio"]).head.l2_scale == 0.01
head = build_head(experiment_config(["head=linear", *head_context("linear")]).head, 4, 2)
assert not head.has_index
try:
    experiment_config(["head=linear", "acquisition=bald"])
except ValueError as error:
    assert "head 'linear' has none" in str(error) and "ratio" in str(error), error
else:
    raise AssertionError("bald on the linear head was not refused")
print("checks passed")
"""
# The tests that cover every head or priority, or list them in expected messages: here they select the additions.
SUITE = ["tests/test_configs.py", "tests/test_heads.py", "tests/test_priorities.py", "tests/test_config_checks.py"]
SELECTED = "linear or ratio or epistemic or regression"


def insert_after(path: Path, anchor: str, text: str) -> None:
    source = path.read_text()
    assert source.count(anchor) == 1, f"{anchor!r} in {path}"
    path.write_text(source.replace(anchor, anchor + text))


def scratch_copy(root: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("epinet_al", "conf", "tests"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def add_linear_head(root: Path) -> None:
    (root / "epinet_al/networks/linear.py").write_text(LINEAR_MODULE)
    specs = root / "epinet_al/networks/specs.py"
    source = specs.read_text()
    specs.write_text(source.replace("\nHEADS = Registry(", LINEAR_CONFIG + "HEADS = Registry(", 1))
    insert_after(specs, 'HEADS = Registry(\n    "head",\n    [\n', LINEAR_SPEC)
    (root / "conf/head/linear.yaml").write_text(LINEAR_YAML)


def add_ratio_priority(root: Path) -> None:
    with (root / "epinet_al/acquisition/priorities.py").open("a") as module:
        module.write(RATIO_FUNCTION)
    insert_after(root / "epinet_al/acquisition/specs.py", '    "priority",\n    [\n', RATIO_SPEC)
    (root / "conf/acquisition/ratio.yaml").write_text(RATIO_YAML)


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_head_and_a_priority_are_added_in_their_own_files(tmp_path):
    root = scratch_copy(tmp_path / "copy")
    add_linear_head(root)
    add_ratio_priority(root)
    checks = run(root, "-c", textwrap.dedent(CHECKS.format(copy=str(root))))
    assert checks.returncode == 0 and "checks passed" in checks.stdout, checks.stderr[-3000:]
    tests = run(root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "-k", SELECTED, *SUITE)
    assert tests.returncode == 0, tests.stdout[-3000:]
    # The additions were selected: each appears in a test id of the copy's suite.
    collected = run(root, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", "-k", SELECTED, *SUITE)
    assert "head=linear" in collected.stdout and "acquisition=ratio" in collected.stdout
    assert "[linear]" in collected.stdout and "[ratio]" in collected.stdout
