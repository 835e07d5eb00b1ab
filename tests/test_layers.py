"""The package's layering (pyproject.toml [tool.importlinter], docs/architecture.md) and a torch-free config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "lightning", "lightning_fabric", "transformers", "torchmetrics")


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_composing_a_config_imports_no_torch():
    # What the command line needs to compose and check a config: fast (torch alone takes seconds to import).
    code = (
        "import sys, epinet_al.config, epinet_al.paths;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
