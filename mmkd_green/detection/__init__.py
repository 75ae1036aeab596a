"""Detection KD with MMDetection (imports mmdet).

Configs load it with ``custom_imports = dict(imports=['mmkd_green', 'mmkd_green.detection'])``.
Importing registers, in mmdet's registries: ``SSDDistiller``, ``SafeSSDHead``, ``SSDVGGTuple``,
``TeacherBoundedRegLoss`` (MODELS), ``VOCLayoutDataset`` (DATASETS). The KD losses
``HKDLoss``/``CMCLoss``/``DMLLoss``/``BgWeightedSoftCELoss`` and the wrapper
``SharedTemperatureLoss`` live in mmengine's root MODELS, which mmdet's MODELS reaches
as its parent: ``mmdet.registry.MODELS.build(dict(type='HKDLoss'))`` finds them.
"""
from .bounded_reg_loss import TeacherBoundedRegLoss
from .distiller import SSDDistiller
from .ssd_head import SafeSSDHead
from .ssd_vgg import SSDVGGTuple
from .toy_voc import TOY_CLASSES, make_toy_voc
from .voc_dataset import BadVOCFileError, VOCLayoutDataset

__all__ = ['SSDDistiller', 'SafeSSDHead', 'SSDVGGTuple', 'TeacherBoundedRegLoss',
           'VOCLayoutDataset', 'BadVOCFileError', 'make_toy_voc', 'TOY_CLASSES']
