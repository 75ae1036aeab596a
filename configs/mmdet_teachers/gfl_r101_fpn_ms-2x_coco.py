# mmdet's GFL ResNet-101 teacher of its LD configs, reachable from this repository's root (mmdet's
# LD configs name it by a path inside the mmdet source tree: configs/gfl/...).
_base_ = 'mmdet::gfl/gfl_r101_fpn_ms-2x_coco.py'
