"""Quantization-aware training (QAT) baseline, the paper's Table 8, with torch.ao's FX API.

The float network is traced and prepared with ``prepare_qat_fx``: BatchNorm is folded into the
preceding convolution and every weight and activation passes a fake quantizer, so training sees
int8 rounding::

    fake_quant(x) = (clamp(round(x / s) + z, q_min, q_max) − z) · s

with scale ``s`` and zero point ``z`` from moving-average min/max observers (per-channel symmetric
for weights). The loss is the plain cross-entropy; training runs through mmengine's loops with the
same hooks (energy meter) as every other run. :meth:`QATClassifier.convert` gives the int8 model
(``convert_fx``) that runs on CPU with the ``x86`` / ``fbgemm`` / ``qnnpack`` kernels.
"""
import copy
from typing import Optional, Sequence

import torch
import torch.nn as nn

from mmkd_green.registry import MODELS
from mmkd_green.utils.teacher import load_weights
from .classifier import PlainClassifier

FLOAT_REVISE_KEYS = ((r'^module\.', ''), (r'^backbone\.', ''))


def prepare_qat(net: nn.Module, backend: str = 'x86',
                input_size: Sequence[int] = (32, 32)) -> nn.Module:
    """Fake-quantised (QAT) copy of ``net`` traced with torch.fx (``net`` must be traceable)."""
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    if backend not in torch.backends.quantized.supported_engines:
        raise ValueError(f'quantized backend {backend!r} is not available in this torch build; '
                         f'choose one of {torch.backends.quantized.supported_engines}')
    example = (torch.randn(1, 3, *input_size),)
    return prepare_qat_fx(net.train(), get_default_qat_qconfig_mapping(backend),
                          example_inputs=example)


@MODELS.register_module()
class QATClassifier(PlainClassifier):
    """A ``PlainClassifier`` whose backbone is prepared for quantization-aware training.

    Args:
        backbone (dict): the float network (e.g. ``CifarMobileNetV2``); must be FX-traceable.
        backend (str): quantized kernel set of the int8 model (``'x86'``, ``'fbgemm'``,
            ``'qnnpack'``).
        float_ckpt (str, optional): float weights to start from (a ``PlainClassifier`` or KD
            student checkpoint); ``None`` trains QAT from scratch.
        input_size (tuple): spatial size of the example input used for tracing.
    """

    def __init__(self, backbone: dict, backend: str = 'x86', float_ckpt: Optional[str] = None,
                 input_size: Sequence[int] = (32, 32), **kwargs):
        super().__init__(backbone=backbone, **kwargs)
        self._num_classes = getattr(self.backbone, 'num_classes', None)
        if float_ckpt:
            load_weights(self.backbone, float_ckpt, what='float student',
                         config_key='model.float_ckpt', revise_keys=FLOAT_REVISE_KEYS)
        self.backend = backend
        self.backbone = prepare_qat(self.backbone, backend, tuple(input_size))

    @property
    def num_classes(self) -> Optional[int]:
        return self._num_classes

    def convert(self) -> nn.Module:
        """The int8 network (a copy; the QAT model keeps training)."""
        from torch.ao.quantization.quantize_fx import convert_fx
        torch.backends.quantized.engine = self.backend
        fake = copy.deepcopy(self.backbone).cpu().eval()
        return convert_fx(fake)
