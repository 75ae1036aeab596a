# The teacher: SSD with an ImageNet-pretrained VGG16 (caffe weights, mmdet's SSD300 preprocessing:
# mean-only normalisation, std 1) that shares the student's anchor layout, so that per-anchor KD
# pairs anchor a of the teacher with anchor a of the student.
#   python tools/train.py configs/ssd_vgg16_voc0712.py
# Differences from mmdet's SSD300-VGG16 (8732 anchors: grids 38,19,10,5,3,1): input 320 and fc7
# (stride 16, 20x20) as the first level, then five stride-2 extra levels: grids 20,10,5,3,2,1 with
# SSDLite's 6 anchors per cell = 3234 anchors, exactly the student's. Data, anchors, evaluation and
# the meter come from the student config (inherited).
_base_ = './ssdlite_mobilenetv2_voc0712.py'

model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[1, 1, 1], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='SSDVGGTuple',
        depth=16,
        with_last_pool=False,
        ceil_mode=True,
        out_indices=(3, 4),
        out_feature_indices=(34, ),
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://vgg16_caffe')),
    neck=dict(
        _delete_=True,
        type='SSDNeck',
        in_channels=(1024, ),
        out_channels=(1024, 512, 512, 256, 256, 256),
        level_strides=(2, 2, 2, 2, 2),
        level_paddings=(1, 1, 1, 1, 1),
        l2_norm_scale=None),
    bbox_head=dict(
        in_channels=(1024, 512, 512, 256, 256, 256),
        use_depthwise=False,
        norm_cfg=None,
        act_cfg=None,
        init_cfg=dict(_delete_=True, type='Xavier', layer='Conv2d', distribution='uniform',
                      bias=0)))

# mmdet's SSD300-VOC0712 recipe (SGD lr 1e-3 for 8 GPUs x 8 = 64 images per step, x10 repeated
# data, 24 epochs) on one GPU x 8: linearly scaled lr 1e-3 x 8 / 64 = 1.25e-4. auto_scale_lr (on)
# multiplies it by (GPUs x batch_size) / 8: x8 = mmdet's 1e-3 with `tools/dist_train.sh CONFIG 8`.
train_dataloader = dict(batch_size=8)
optim_wrapper = dict(optimizer=dict(lr=1e-3 * 8 / 64, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 20], gamma=0.1)
]
auto_scale_lr = dict(enable=True, base_batch_size=8)
