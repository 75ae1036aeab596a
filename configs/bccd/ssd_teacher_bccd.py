# Toy-sized teacher (half-width ResNet-18 SSD, 128 px, the student's 340 anchors) on BCCD.
#   python tools/train.py configs/bccd/ssd_teacher_bccd.py
_base_ = './ssdlite_student_bccd.py'

model = dict(
    data_preprocessor=dict(mean=[103.53, 116.28, 123.675], std=[1, 1, 1], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True, type='ResNet', depth=18, base_channels=32, num_stages=4,
        out_indices=(2, 3), norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
        style='pytorch'),
    neck=dict(
        _delete_=True, type='SSDNeck', in_channels=(128, 256), out_channels=(128, 256, 256, 128),
        level_strides=(2, 2), level_paddings=(1, 1), l2_norm_scale=None,
        norm_cfg=dict(type='BN')),
    bbox_head=dict(
        in_channels=(128, 256, 256, 128), use_depthwise=False, norm_cfg=None, act_cfg=None,
        init_cfg=dict(_delete_=True, type='Xavier', layer='Conv2d', distribution='uniform',
                      bias=0)))
