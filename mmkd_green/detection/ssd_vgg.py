"""``SSDVGGTuple``: mmdet's SSDVGG that always returns a tuple of feature maps.

mmdet's ``SSDVGG.forward`` returns a bare tensor when ``out_feature_indices`` names one layer,
and ``SSDNeck`` then iterates over the *batch* dimension. The VGG16 teacher that shares SSDLite's
anchor layout needs exactly that case: fc7 (layer 34, stride 16: 20×20 at 320 px) is its first
level and the neck adds 10, 5, 3, 2, 1 — the 6 grids of SSDLite-320 (3234 anchors). Same
parameters and names as SSDVGG, so ``open-mmlab://vgg16_caffe`` and SSDVGG checkpoints load.
"""
from mmdet.models.backbones import SSDVGG
from mmdet.registry import MODELS


@MODELS.register_module()
class SSDVGGTuple(SSDVGG):
    """SSDVGG whose forward returns ``tuple`` of the requested features, even for one."""

    def forward(self, x):
        out = super().forward(x)
        return out if isinstance(out, tuple) else (out, )
