"""Detection KD with MMDetection (imports mmdet).

Configs load it with ``custom_imports = dict(imports=['mmkd_green', 'mmkd_green.detection'])``.
Importing registers, in mmdet's registries: ``SSDDistiller``, ``SafeSSDHead``, ``SSDVGGTuple``,
``TeacherBoundedRegLoss`` (MODELS), ``VOCLayoutDataset`` (DATASETS), and the KD losses
``HKDLoss``/``CMCLoss``/``DMLLoss``/``BgWeightedSoftCELoss`` and the wrapper
``SharedTemperatureLoss`` (also in mmengine's root MODELS), so
``mmdet.registry.MODELS.get('HKDLoss')`` finds them directly.
"""
from mmdet.registry import MODELS as MMDET_MODELS

from ..losses import KD_LOSSES, SharedTemperatureLoss
from .bounded_reg_loss import TeacherBoundedRegLoss
from .distiller import SSDDistiller
from .ssd_head import SafeSSDHead
from .ssd_vgg import SSDVGGTuple
from .toy_voc import TOY_CLASSES, make_toy_voc
from .voc_dataset import BadVOCFileError, VOCLayoutDataset

for _loss in KD_LOSSES + (SharedTemperatureLoss, ):
    if MMDET_MODELS.module_dict.get(_loss.__name__) is not _loss:
        MMDET_MODELS.register_module(module=_loss, force=True)

__all__ = ['SSDDistiller', 'SafeSSDHead', 'SSDVGGTuple', 'TeacherBoundedRegLoss',
           'VOCLayoutDataset', 'BadVOCFileError', 'make_toy_voc', 'TOY_CLASSES']
