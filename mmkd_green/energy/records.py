"""Durable records: one JSON object per line, appended and fsynced.

``append_record`` writes ``json + '\\n'`` with a single ``write``, then ``flush`` + ``os.fsync``
(and fsyncs the directory when the file is created), so a record is on disk before training goes
on; a crash (``kill -9``) loses at most the segment in flight. ``read_records`` skips a torn last
line (a write interrupted mid-way) and reports it; the next ``append_record`` (a resumed run)
first ends the torn line with a newline, so the torn bytes never swallow the new record.
"""
import json
import math
import os
import os.path as osp
from typing import List, Tuple


def to_jsonable(obj):
    """Numbers, tensors, numpy values and containers -> plain JSON types (NaN/inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    # tensors, numpy arrays and numpy scalars
    if hasattr(obj, 'tolist'):
        return to_jsonable(obj.tolist())
    return str(obj)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _ends_with_newline(path: str) -> bool:
    """True for an empty file or one whose last byte is a newline."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b'\n'


def append_record(path: str, record: dict) -> None:
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    created = not osp.exists(path)
    line = json.dumps(to_jsonable(record), sort_keys=False) + '\n'
    if not created and not _ends_with_newline(path):
        line = '\n' + line     # end a torn last line (kill -9 mid-write) so it stays alone
    with open(path, 'a', encoding='utf-8') as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    if created:
        _fsync_dir(directory)


def write_json_atomic(path: str, obj) -> None:
    """Write ``path`` via a fsynced temporary file and ``os.replace`` (never half-written)."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(to_jsonable(obj), f, indent=2)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(directory)


def read_records(path: str) -> Tuple[List[dict], int]:
    """``(records, number of unparsable lines skipped)``."""
    records, bad = [], 0
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                bad += 1
    return records, bad
