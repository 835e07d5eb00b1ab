"""Preemption-safe state: everything a run needs to continue exactly where it stopped.

At every evaluation point the loops call ``Checkpointer.save``, which writes ``state.pt``
atomically (a temporary file, then a rename): the model and optimizer, the label ledger, the
loop's counters, every random state (the run's generators, torch, numpy, Python), the fixed index sets
and diagnostic inputs drawn when the run started (the agent's and the diagnostics'), the curve so
far and the W&B run id. A run started again in the same folder restores it and continues; since
every random draw after an evaluation point comes from the saved states, the resumed run writes
the same ledger and the same curve.csv as a run that was never interrupted (on the same machine,
with the same number of threads).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from epinet_al.io import atomic_write
from epinet_al.run_folder import RESUMABLE_CHANGES, STATE_FILE, config_differences  # noqa: F401  (re-exported)


def _global_rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _os_error(error: BaseException | None) -> OSError | None:
    """The OSError that ``error`` is or was raised while handling, if any."""
    while error is not None and not isinstance(error, OSError):
        error = error.__cause__ or error.__context__
    return error


def _load(path: Path, mmap: bool = False) -> dict[str, Any]:
    try:
        # weights_only=False: the file holds numpy and Python RNG states; it is this run's own file.
        return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
    except Exception as error:  # a truncated or foreign file: torch raises RuntimeError, pickle errors, EOFError
        reason = f"{type(error).__name__}: {error}"
        raise ValueError(f"{path} cannot be read ({reason}); remove it to start afresh") from None


def _check_same_config(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    differences = config_differences(saved, current)
    if differences:
        raise ValueError(f"cannot resume {path.parent}: its config differs in {'; '.join(differences[:5])}")


def check_resumable(output_dir: Path, config: dict[str, Any]) -> bool:
    """Whether ``output_dir`` holds a saved state; refuses one saved with a different config.

    Reads the saved config only (the tensors are memory-mapped, not read): cheap even for a large
    model, so the command line can check a resume folder before anything is written to it.
    """
    path = Path(output_dir) / STATE_FILE
    if not path.is_file():
        return False
    _check_same_config(path, _load(path, mmap=True)["config"], config)
    return True


class Checkpointer:
    """Saves and restores a run's state in ``<output_dir>/state.pt``."""

    def __init__(self, output_dir: Path, config: dict[str, Any]):
        self.path = Path(output_dir) / STATE_FILE
        self.config = config
        self.saved: dict[str, Any] | None = None
        # A save cut short by a kill leaves its temporary file; a large model's would pile up over requeues.
        for stale in self.path.parent.glob(f".{STATE_FILE}.*.tmp"):
            stale.unlink(missing_ok=True)
        if self.path.exists():
            self.saved = _load(self.path)
            _check_same_config(self.path, self.saved["config"], config)
        self._parts: dict[str, Any] = {}
        self._fixed: dict[str, Any] = {}
        self._saved_step: int | None = None  # the loop step of this process's last save

    @property
    def curve(self) -> list[dict[str, float]]:
        return list(self.saved["curve"]) if self.saved else []

    def kept(self) -> str:
        """What a run that stops now leaves to resume from, in words for its error message."""
        step = self._saved_step if self._saved_step is not None else (self.saved or {}).get("loop", {}).get("step")
        if step is None:
            return "no evaluation point was reached: nothing is kept"
        return f"curve.csv and state.pt keep the evaluation point at step {step}"

    @property
    def wandb_run_id(self) -> str | None:
        return self.saved.get("wandb_run_id") if self.saved else None

    def attach(
        self,
        *,
        module: Any,
        optimizer: Any,
        ledger: Any,
        streams: Any,
        recorder: Any,
        wandb_run_id: str | None,
        fixed: dict[str, Any] | None = None,
    ) -> None:
        """The objects whose state is saved and restored; ``fixed``: named objects (with ``state_dict`` and
        ``load_state_dict``) holding what the run drew once when it started (the agent's index sets)."""
        self._parts = dict(module=module, optimizer=optimizer, ledger=ledger, streams=streams, recorder=recorder)
        self._fixed = dict(fixed or {})
        self._wandb_run_id = wandb_run_id

    def discard(self) -> None:
        """Delete the saved state (the run is finished: there is nothing left to resume)."""
        self.path.unlink(missing_ok=True)

    def save(self, loop_state: dict[str, Any]) -> None:
        """Write the whole state atomically; called by the loops right after an evaluation point."""
        parts = self._parts
        state = {
            "config": self.config,
            "loop": loop_state,
            "module": parts["module"].state_dict(),
            "optimizer": parts["optimizer"].state_dict(),
            "ledger": parts["ledger"].state_dict(),
            "streams": parts["streams"].state_dict(),
            "rng": _global_rng_state(),
            "fixed": {name: part.state_dict() for name, part in self._fixed.items()},
            "curve": parts["recorder"].rows,
            "wandb_run_id": self._wandb_run_id,
        }
        kept = (
            "the state saved before is kept: run again in the same folder to resume from it"
            if self.path.is_file()
            else "no state was saved before: run again to start afresh"
        )
        try:
            atomic_write(self.path, lambda handle: torch.save(state, handle), mode="wb")
        except (OSError, RuntimeError) as error:
            # torch's writer turns the file's OSError (a full disk, `ulimit -f`) into "[enforce fail at
            # inline_container.cc] unexpected pos ..."; the OSError is its context.
            cause = _os_error(error)
            if cause is None:
                raise
            raise OSError(f"could not save {self.path} ({cause}); {kept}") from cause
        self._saved_step = loop_state["step"]

    def restore(self) -> dict[str, Any] | None:
        """Load the saved state into the attached objects; the loop's state, or None for a fresh run."""
        if self.saved is None:
            return None
        parts, saved = self._parts, self.saved
        parts["module"].load_state_dict(saved["module"])
        parts["optimizer"].load_state_dict(saved["optimizer"])
        parts["ledger"].load_state_dict(saved["ledger"])
        parts["streams"].load_state_dict(saved["streams"])
        for name, state in saved.get("fixed", {}).items():  # a state saved before fixed sets: those drawn now
            self._fixed[name].load_state_dict(state)
        _set_global_rng_state(saved["rng"])
        return saved["loop"]
