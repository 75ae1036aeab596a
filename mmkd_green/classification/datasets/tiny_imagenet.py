"""Tiny ImageNet (200 classes, 64x64) from the official ``tiny-imagenet-200`` folder::

    tiny-imagenet-200/
        wnids.txt                      one WordNet id per line (the 200 classes)
        words.txt                      optional: "wnid<TAB>names"
        train/<wnid>/images/*.JPEG     500 images per class
        val/images/*.JPEG              10,000 images
        val/val_annotations.txt        "file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1"

Classes are the sorted WordNet ids (the order of torchvision's ImageFolder on ``train/``).
``test_mode=True`` (or ``split='val'``) reads the labelled val split; the official ``test/``
split has no labels. Images are decoded on access as RGB (the grey ones are expanded).
"""
import os
import os.path as osp
from typing import List, Optional

from mmengine.dataset import BaseDataset
from torchvision.io import ImageReadMode, decode_image

from mmkd_green.registry import DATASETS

_IMG_EXT = ('.jpeg', '.jpg', '.png')


@DATASETS.register_module()
class TinyImageNet(BaseDataset):
    """Args:
        data_root: folder holding ``tiny-imagenet-200/`` (or that folder itself).
        split: ``'train'`` or ``'val'``; default from ``test_mode``.
        pipeline, indices, test_mode: as in mmengine's ``BaseDataset``.
    """
    folder = 'tiny-imagenet-200'

    def __init__(self, data_root: str = '', split: Optional[str] = None, test_mode: bool = False,
                 pipeline=(), indices=None, serialize_data: bool = False, **kwargs):
        split = split or ('val' if test_mode else 'train')
        if split not in ('train', 'val'):
            raise ValueError(f"TinyImageNet split must be 'train' or 'val' (the test split has no "
                             f"labels), got {split!r}")
        self.split = split
        super().__init__(data_root=data_root, test_mode=test_mode, pipeline=list(pipeline),
                         indices=indices, serialize_data=serialize_data, **kwargs)

    def _root(self) -> str:
        root = self.data_root or '.'
        for cand in (root, osp.join(root, self.folder)):
            if osp.isfile(osp.join(cand, 'wnids.txt')):
                return cand
        raise FileNotFoundError(
            f'TinyImageNet: no wnids.txt under {osp.abspath(root)!r}. Expected the official '
            f'layout {self.folder}/{{wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, '
            f'val/val_annotations.txt}} in data_root or data_root/{self.folder}/ (extract '
            f'tiny-imagenet-200.zip; set `data_root` in the dataset config).')

    def load_data_list(self) -> List[dict]:
        root = self._root()
        with open(osp.join(root, 'wnids.txt')) as f:
            wnids = sorted({line.strip() for line in f if line.strip()})
        index = {w: i for i, w in enumerate(wnids)}
        names = dict(zip(wnids, wnids))
        words = osp.join(root, 'words.txt')
        if osp.isfile(words):
            with open(words) as f:
                for line in f:
                    parts = line.rstrip('\n').split('\t')
                    if len(parts) >= 2 and parts[0] in names:
                        names[parts[0]] = parts[1]
        self._metainfo.update(classes=tuple(names[w] for w in wnids), wnids=tuple(wnids))
        items = []
        if self.split == 'train':
            for w in wnids:
                img_dir = osp.join(root, 'train', w, 'images')
                if not osp.isdir(img_dir):
                    raise FileNotFoundError(f'TinyImageNet: missing {img_dir} for class {w} '
                                            f'listed in wnids.txt (expected train/<wnid>/images/)')
                for name in sorted(os.listdir(img_dir)):
                    if name.lower().endswith(_IMG_EXT):
                        items.append(dict(img_path=osp.join(img_dir, name), gt_label=index[w]))
        else:
            ann = osp.join(root, 'val', 'val_annotations.txt')
            if not osp.isfile(ann):
                raise FileNotFoundError(f'TinyImageNet: missing {ann} (expected val/images/*.JPEG '
                                        f'and val/val_annotations.txt: file<TAB>wnid<TAB>box)')
            with open(ann) as f:
                for n, line in enumerate(f, 1):
                    parts = line.strip().split('\t')
                    if not parts or not parts[0]:
                        continue
                    if len(parts) < 2 or parts[1] not in index:
                        raise ValueError(f'{ann}:{n}: expected "file<TAB>wnid<TAB>..." with a wnid '
                                         f'from wnids.txt, got {line.strip()!r}')
                    items.append(dict(img_path=osp.join(root, 'val', 'images', parts[0]),
                                      gt_label=index[parts[1]]))
        if not items:
            raise FileNotFoundError(f'TinyImageNet: no {self.split} images found under {root}')
        return items

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['img'] = decode_image(info['img_path'], mode=ImageReadMode.RGB)
        return info
