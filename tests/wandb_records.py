"""Read an offline W&B run back from its ``run-<id>.wandb`` file, without a server or ``wandb.Api``.

Not a test module. The file is a LevelDB-style log (the format of W&B's transaction log): a 7-byte
header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each with a 7-byte header
(crc32c, length, type) in front of its bytes. A chunk of type FULL holds one serialized ``Record``
protobuf; FIRST, MIDDLE... LAST chunks hold one record split across blocks. (wandb >= 0.19 dropped
its Python reader of this format; the record protobufs are still shipped as ``wandb.proto``.)
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

_FILE_HEADER = b":W&B\xe1\xbe\x00"
_BLOCK = 32 * 1024
_CHUNK_HEADER = struct.Struct("<IHB")  # crc32c, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    """Every record of a ``.wandb`` file, in the order written."""
    data = Path(path).read_bytes()
    if not data.startswith(_FILE_HEADER):
        raise ValueError(f"{path} is not a W&B transaction log (header {data[:7]!r})")
    records, pending, pos = [], b"", len(_FILE_HEADER)
    while pos + _CHUNK_HEADER.size <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _CHUNK_HEADER.size:  # the writer pads a block's tail that cannot hold a header
            pos += left_in_block
            continue
        _, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        if kind == 0:  # zero padding up to the end of the block
            pos += left_in_block
            continue
        pos += _CHUNK_HEADER.size
        pending += data[pos : pos + length]
        pos += length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _items(items) -> dict[str, Any]:
    """Key/value items of a history, summary or config record, nested keys as nested dicts.

    A logged object (a table) is recorded as one item per field under nested_key [name, field].
    """
    out: dict[str, Any] = {}
    for item in items:
        *parents, key = item.nested_key or [item.key]
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = json.loads(item.value_json)
    return out


@dataclass
class OfflineRun:
    """What an offline run recorded: its identity, metric definitions, history rows and summary."""

    folder: Path
    run_id: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    # metric name -> its step metric ("" when it has none)
    step_metrics: dict[str, str] = field(default_factory=dict)
    # metric name -> the aggregates its summary keeps ("min", "max", ...; none when W&B's default)
    summaries: dict[str, set[str]] = field(default_factory=dict)
    # history rows, each with W&B's `_step`
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None

    @classmethod
    def load(cls, folder: Path, timeout_s: float = 60) -> OfflineRun:
        """``folder`` is one ``offline-run-<time>-<id>`` folder of a closed run.

        W&B's service writes the file's last records after ``run.finish()`` returns (the call only
        informs it): wait up to ``timeout_s`` for the run's exit record.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                run = cls._read(Path(folder))
            except (ValueError, DecodeError):  # caught mid-write
                if time.monotonic() > deadline:
                    raise
            else:
                if run.exit_code is not None or time.monotonic() > deadline:
                    return run
            time.sleep(0.1)

    @classmethod
    def _read(cls, folder: Path) -> OfflineRun:
        (log_file,) = folder.glob("run-*.wandb")
        run = cls(Path(folder))
        for record in read_records(log_file):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.run_id = record.run.run_id
                run.group, run.job_type = record.run.run_group, record.run.job_type
                run.name, run.tags = record.run.display_name, list(record.run.tags)
                run.config.update(_items(record.run.config.update))
            elif kind == "metric" and record.metric.name:
                run.step_metrics[record.metric.name] = record.metric.step_metric
                summary = record.metric.summary
                run.summaries[record.metric.name] = {f.name for f, on in summary.ListFields() if on}
            elif kind == "history":
                run.history.append(_items(record.history.item))
            elif kind == "summary":
                run.summary.update(_items(record.summary.update))
            elif kind == "exit":
                run.exit_code = record.exit.exit_code
        return run
