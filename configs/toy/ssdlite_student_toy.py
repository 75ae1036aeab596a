# Toy student (README demo): the SSDLite-MobileNetV2 config at 128 px with a half-width backbone,
# 3 shape classes and the data of tools/make_toy_voc.py (data/toy_voc/VOC2007). Same code paths as
# configs/ssdlite_mobilenetv2_voc0712.py (inherited): SafeSSDHead, VOCLayoutDataset, VOCMetric
# 11-point, CarbonFootprintHook. Anchors: grids 8,4,2,1 x 4 per cell = 340.
_base_ = '../ssdlite_mobilenetv2_voc0712.py'

input_size = 128
classes = ('circle', 'square', 'triangle')
model = dict(
    backbone=dict(widen_factor=0.5, init_cfg=dict(_delete_=True, type='TruncNormal',
                                                  layer='Conv2d', std=0.03)),
    neck=dict(in_channels=(48, 1280), out_channels=(48, 1280, 256, 128), level_strides=(2, 2),
              level_paddings=(1, 1)),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=(48, 1280, 256, 128),
        anchor_generator=dict(strides=[16, 32, 64, 128], ratios=[[2], [2], [2], [2]],
                              min_sizes=[16, 36, 64, 96], max_sizes=[36, 64, 96, 128])),
    test_cfg=dict(score_thr=0.02, max_per_img=50))

data_root = 'data/toy_voc/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    _delete_=True, batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VOCLayoutDataset', data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'),
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True, batch_size=16, num_workers=0, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VOCLayoutDataset', data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='VOC2007/ImageSets/Main/test.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# AdamW: from scratch it reaches a useful detector in a few hundred CPU iterations (SGD did not)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=3e-3, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=8)   # lr tuned for batch 8 on one process
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True,
         eta_min=0)
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
