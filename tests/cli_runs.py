"""`epinet-al` in this process, as the console script runs it: exit status and stderr of one command.

In-process runs skip the seconds of importing torch that a subprocess pays; the kill-and-resume tests
use a real subprocess only for the run they kill. Numbers match a subprocess run with one thread
(tests/test_experiment.py checks that the command and ``run_experiment`` give the same curve).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from epinet_al.cli import main


@dataclass
class CliResult:
    code: int
    stderr: str
    stdout: str = ""

    @property
    def error(self) -> str:
        """The one `epinet-al: error:` line (asserts there is exactly one and no traceback)."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("epinet-al: error: ")]
        assert len(lines) == 1, self.stderr[-3000:]
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        return lines[0].removeprefix("epinet-al: error: ")


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliResult:
    """Run `epinet-al <args>` and return its exit status (0 when it returns) and what it wrote to stderr."""
    capsys.readouterr()  # only this command's output
    root = logging.getLogger()
    handlers = list(root.handlers)
    with monkeypatch.context() as patch:
        patch.setattr(sys, "argv", ["epinet-al", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        finally:
            # Hydra's job logging writes to this test's captured streams; a later test's log records must not.
            for handler in set(root.handlers) - set(handlers):
                handler.close()
            root.handlers[:] = handlers
    output = capsys.readouterr()
    return CliResult(code, output.err, output.out)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes): to check that a failed command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
