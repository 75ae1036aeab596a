"""Is a file a whole torch checkpoint? Cheap checks before a run relies on it.

:func:`checkpoint_file_problem` returns why ``path`` cannot be a complete ``torch.save`` file, or
``None``:

* empty (0 bytes: an interrupted download or copy);
* neither format ``torch.save`` writes: the zip archive (magic ``PK\\x03\\x04``, torch >= 1.6)
  or the legacy pickle stream (first byte ``\\x80``, the pickle protocol opcode);
* a zip whose end-of-central-directory record is missing (a truncated file; ``zipfile`` finds
  it from the end of the file, reading only the tail);
* ``check_hash``: the name carries a hash prefix, ``<name>-<hex>.<ext>`` with 8-64 hex digits
  (torch.hub's and OpenMMLab's convention, ``resnet18-f37072fd.pth``), and the file's SHA-256
  does not start with it (a corrupt or different file). This reads the whole file.
"""
import hashlib
import os.path as osp
import re
import zipfile
from typing import Optional

ZIP_MAGIC = b'PK\x03\x04'
PICKLE_PROTO = b'\x80'
#: ``name-<8..64 hex digits>.ext``: the SHA-256 prefix torch.hub's ``check_hash`` compares
HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,64})\.[^.]+$')


def file_digest(path: str, algorithm: str = 'sha256', chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes (``hashlib.new(algorithm)``), read in ``chunk``-byte blocks
    (``hashlib.file_digest`` needs Python >= 3.11)."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_file_problem(path: str, check_hash: bool = True) -> Optional[str]:
    """Why ``path`` is not a complete torch checkpoint (see the module docstring), or ``None``.
    ``OSError`` (e.g. no permission) is returned as the reason too."""
    try:
        size = osp.getsize(path)
        if size == 0:
            return 'it is empty (0 bytes)'
        with open(path, 'rb') as f:
            head = f.read(4)
        if head == ZIP_MAGIC:
            if not zipfile.is_zipfile(path):
                return f'it is a truncated zip archive ({size} bytes, no central directory)'
        elif not head.startswith(PICKLE_PROTO):
            return (f'it is not a torch checkpoint (starts with {head!r}; torch.save writes a zip '
                    f'archive or a pickle)')
        match = HASH_IN_NAME.search(osp.basename(path)) if check_hash else None
        if match:
            actual = file_digest(path, 'sha256')
            if not actual.startswith(match.group(1)):
                return (f'its SHA-256 {actual[:len(match.group(1))]}... does not match the hash '
                        f'prefix {match.group(1)} in its name (corrupt or a different file)')
    except OSError as err:
        return f'it cannot be read ({err})'
    return None
