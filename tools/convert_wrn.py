"""Convert a WRN checkpoint between mmkd-green's key layout and upstream zju-vipa/CMI's.

    python tools/convert_wrn.py IN.pth OUT.pth --to upstream   # for upstream's datafree_kd.py
    python tools/convert_wrn.py IN.pth OUT.pth --to ours       # for our configs' teacher_ckpt

The input may be a plain state dict, an mmengine checkpoint (``backbone.*`` / ``module.*`` keys
are unwrapped) or upstream's ``{'state_dict': ...}``. The output is ``{'state_dict': ...}``,
which both upstream (``torch.load(path)['state_dict']``) and mmengine's ``load_checkpoint`` read.
Only keys are renamed (see ``mmkd_green/classification/backbones/wrn_layout.py``), after every
key and shape is checked against the WideResNet read from the shapes: any other network (e.g. a
ResNet) is refused, naming what was found. An unreadable input (truncated, empty, not a
checkpoint) or an output path that cannot be written is refused before any work, naming the file.
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd_green.classification.backbones.wrn_layout import (convert,  # noqa: E402
                                                             detect_layout, unwrap_checkpoint)
from mmkd_green.utils.checkpoint_file import checkpoint_file_problem  # noqa: E402


def read_checkpoint(path: str):
    """``torch.load`` (weights only), with errors that name the file and the fix."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'input checkpoint not found (or not a file): {path}')
    problem = checkpoint_file_problem(path, check_hash=False)
    if problem:
        raise ValueError(f'{path}: {problem}. Fix: copy or download it again; it must be a '
                         f'torch.save() file')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:   # noqa: BLE001  (zip, pickle and allow-list errors alike)
        raise ValueError(f'{path} cannot be read as a torch checkpoint ({type(err).__name__}: '
                         f'{err}): a truncated or partial copy, or not a checkpoint at all. '
                         f'Fix: copy or download it again; it must be a torch.save() file') \
            from err


def open_output(path: str):
    """Create ``path``'s folder and a temporary file beside it, before any work, so a bad
    output path is refused at once; returns ``(open temporary file, its path)``."""
    folder = osp.dirname(osp.abspath(path))
    if osp.isdir(path):
        raise ValueError(f'output {path} is a folder. Fix: give a file name, e.g. '
                         f'{osp.join(path, "wrn_converted.pth")}')
    above = folder
    while not osp.exists(above):
        above = osp.dirname(above)
    if not osp.isdir(above):
        raise ValueError(f'cannot write the output {path}: {above} is a file, not a folder. '
                         f'Fix: choose an output path in a folder')
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        os.makedirs(folder, exist_ok=True)
        return open(tmp, 'wb'), tmp
    except OSError as err:
        raise ValueError(f'cannot write the output {path}: {err.strerror or err} (in {folder}). '
                         f'Fix: choose an output path in a folder you can write to') from err


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='WRN checkpoint (ours, mmengine, or upstream layout)')
    parser.add_argument('dst', help='output .pth, saved as {"state_dict": ...}')
    parser.add_argument('--to', choices=('ours', 'upstream'), required=True)
    args = parser.parse_args(argv)
    f, tmp = open_output(args.dst)
    try:
        with f:
            ckpt = read_checkpoint(args.src)
            try:
                state = unwrap_checkpoint(ckpt)
                src_layout = detect_layout(state)
                out = convert(state, args.to)
            except ValueError as err:
                raise ValueError(f'{args.src}: {err}') from err
            torch.save(dict(state_dict=out), f)
        os.replace(tmp, args.dst)     # never a half-written output
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    print(f'{args.src} ({src_layout} layout, {len(state)} tensors) -> {args.dst} '
          f'({args.to} layout)')
    return out


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
