"""Convert a WRN checkpoint between mmkd-green's key layout and upstream zju-vipa/CMI's.

    python tools/convert_wrn.py IN.pth OUT.pth --to upstream   # for upstream's datafree_kd.py
    python tools/convert_wrn.py IN.pth OUT.pth --to ours       # for our configs' teacher_ckpt

The input may be a plain state dict, an mmengine checkpoint (``backbone.*`` / ``module.*`` keys
are unwrapped) or upstream's ``{'state_dict': ...}``. The output is ``{'state_dict': ...}``,
which both upstream (``torch.load(path)['state_dict']``) and mmengine's ``load_checkpoint`` read.
Only keys are renamed (see ``mmkd_green/classification/backbones/wrn_layout.py``).
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd_green.classification.backbones.wrn_layout import (convert,  # noqa: E402
                                                             detect_layout, unwrap_checkpoint)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='WRN checkpoint (ours, mmengine, or upstream layout)')
    parser.add_argument('dst', help='output .pth, saved as {"state_dict": ...}')
    parser.add_argument('--to', choices=('ours', 'upstream'), required=True)
    args = parser.parse_args(argv)
    state = unwrap_checkpoint(torch.load(args.src, map_location='cpu', weights_only=True))
    src_layout = detect_layout(state)
    out = convert(state, args.to)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=out), args.dst)
    print(f'{args.src} ({src_layout} layout, {len(state)} tensors) -> {args.dst} '
          f'({args.to} layout)')
    return out


if __name__ == '__main__':
    main()
