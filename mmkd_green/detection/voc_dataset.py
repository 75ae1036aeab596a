"""``VOCLayoutDataset``: PASCAL-VOC-layout loading beyond the happy path.

mmdet's ``VOCDataset`` with four additions:

* Any folder name and class list: ``data_prefix=dict(sub_data_root='BCCD/')``,
  ``metainfo=dict(classes=('RBC', 'WBC', 'Platelets'))``. (Folders named VOC2007/VOC2012 keep
  mmdet's ``dataset_type``, so ``VOCMetric`` behaves as for VOC.) Object names outside the class
  list are skipped as in mmdet, with one warning listing them (a typo in ``classes`` shows).
* Border boxes: VOC coordinates are 1-based inclusive; after mmdet's ``-1`` they are 0-based
  pixel indices, and every box is clamped to ``[0, W−1] × [0, H−1]`` (a box touching the border,
  e.g. BCCD's ``xmin=1`` or ``xmax=640`` at width 640, stays; one crossing it is cut at the
  border). A box with ``x2 <= x1`` or ``y2 <= y1`` after clamping has no area (its regression
  target would be ``log 0``): it is dropped, with a warning naming the file.
* Bad files: a missing, empty, truncated (no JPEG end marker) or non-JPEG image, and a missing or
  malformed annotation XML (unparsable, no ``<size>``/``<bndbox>``, non-numeric coordinates) raise
  :class:`BadVOCFileError` naming the file and the fix — or, with ``skip_bad_files=True``, the
  image is left out with a warning naming the file. The image check reads only the first bytes
  and the last KiB of each file (``check_images=False`` turns it off).
"""
import os
import os.path as osp
import warnings
import xml.etree.ElementTree as ET
from typing import List

from mmdet.datasets import VOCDataset
from mmdet.registry import DATASETS
from mmengine.fileio import list_from_file
from mmengine.logging import MMLogger

JPEG_SOI, JPEG_EOI = b'\xff\xd8\xff', b'\xff\xd9'


class BadVOCFileError(ValueError):
    """An image or annotation file of a VOC-layout dataset that cannot be used."""


def check_jpeg(path: str) -> None:
    """Raise :class:`BadVOCFileError` unless ``path`` looks like a complete JPEG file."""
    if not osp.isfile(path):
        raise BadVOCFileError(f'image file missing: {path}')
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(3)
        f.seek(max(0, size - 1024))
        tail = f.read()
    if head != JPEG_SOI:
        raise BadVOCFileError(f'unreadable image (not a JPEG: starts with {head!r}): {path}')
    if JPEG_EOI not in tail:
        raise BadVOCFileError(f'truncated JPEG (no end-of-image marker): {path}')


@DATASETS.register_module()
class VOCLayoutDataset(VOCDataset):
    """VOC-layout dataset with any folder/classes, border clamping and bad-file handling.

    Args:
        skip_bad_files (bool): leave bad images/annotations out with a warning instead of raising.
        check_images (bool): check every JPEG's start/end markers while loading the list.
        **kwargs: ``VOCDataset``/``XMLDataset`` arguments (``data_root``, ``ann_file``,
            ``data_prefix=dict(sub_data_root=...)``, ``metainfo=dict(classes=...)``, ...).
    """

    def __init__(self, skip_bad_files: bool = False, check_images: bool = True, **kwargs):
        self.skip_bad_files, self.check_images = bool(skip_bad_files), bool(check_images)
        self.skipped_files: List[str] = []
        self._unknown_names, self._dropped, self._clamped = set(), [], 0
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        classes = self._metainfo.get('classes', None)
        if not classes:
            raise ValueError('VOCLayoutDataset needs classes: metainfo=dict(classes=(...))')
        self.cat2label = {cat: i for i, cat in enumerate(classes)}
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'image-set file not found: {self.ann_file} (check data_root '
                                    'and ann_file, e.g. VOC2007/ImageSets/Main/test.txt)')
        data_list = []
        for img_id in list_from_file(self.ann_file, backend_args=self.backend_args):
            img_id = img_id.strip()
            if not img_id:
                continue
            info = dict(img_id=img_id, file_name=osp.join(self.img_subdir, f'{img_id}.jpg'),
                        xml_path=osp.join(self.sub_data_root, self.ann_subdir, f'{img_id}.xml'))
            try:
                if self.check_images:
                    check_jpeg(osp.join(self.sub_data_root, info['file_name']))
                data_list.append(self.parse_data_info(info))
            except BadVOCFileError as err:
                if not self.skip_bad_files:
                    raise BadVOCFileError(f'{err}. Replace or remove the file (or its id in '
                                          f'{self.ann_file}), or set skip_bad_files=True in the '
                                          'dataset config to leave it out.') from None
                warnings.warn(f'VOCLayoutDataset: skipping {img_id}: {err}')
                self.skipped_files.append(str(err))
        self._report()
        return data_list

    def _report(self) -> None:
        if self._unknown_names:
            warnings.warn(f'VOCLayoutDataset: objects named {sorted(self._unknown_names)} are not '
                          f'in classes {tuple(self.cat2label)} and were ignored')
        if self._dropped:
            warnings.warn(f'VOCLayoutDataset: dropped {len(self._dropped)} zero-area box(es) in '
                          f'{sorted(set(self._dropped))[:5]}')
        if self._clamped:
            MMLogger.get_current_instance().info(
                f'VOCLayoutDataset: clamped {self._clamped} box(es) to the image border')

    def parse_data_info(self, img_info: dict) -> dict:
        xml_path = img_info['xml_path']
        if not osp.isfile(xml_path):
            raise BadVOCFileError(f'annotation file missing: {xml_path}')
        try:
            root = ET.parse(xml_path).getroot()
            size = root.find('size')
            if size is None:
                raise ValueError('no <size> element')
            w, h = int(float(size.find('width').text)), int(float(size.find('height').text))
            for obj in root.findall('object'):
                if obj.find('name') is None or obj.find('bndbox') is None:
                    raise ValueError('an <object> without <name> or <bndbox>')
                name = obj.find('name').text
                if name not in self.cat2label:
                    self._unknown_names.add(name)
                for k in ('xmin', 'ymin', 'xmax', 'ymax'):
                    float(obj.find('bndbox').find(k).text)
            if w <= 0 or h <= 0:
                raise ValueError(f'image size {w}x{h}')
            data_info = super().parse_data_info(img_info)
        except (ET.ParseError, AttributeError, ValueError, TypeError) as err:
            raise BadVOCFileError(f'malformed annotation XML ({err}): {xml_path}') from None
        data_info['instances'] = self._clamp(data_info['instances'], w, h, xml_path)
        return data_info

    def _clamp(self, instances: List[dict], w: int, h: int, xml_path: str) -> List[dict]:
        kept = []
        for inst in instances:
            x1, y1, x2, y2 = inst['bbox']
            box = [min(max(x1, 0), w - 1), min(max(y1, 0), h - 1),
                   min(max(x2, 0), w - 1), min(max(y2, 0), h - 1)]
            if box != list(inst['bbox']):
                self._clamped += 1
            if box[2] <= box[0] or box[3] <= box[1]:
                self._dropped.append(os.path.basename(xml_path))
                continue
            kept.append(dict(inst, bbox=box))
        return kept
