# The student trained alone (baseline): SSDLite-320 with an ImageNet-pretrained MobileNetV2, on
# VOC07+12 trainval, evaluated on VOC07 test (VOCMetric, 11-point mAP), energy meter on.
#   python tools/train.py configs/ssdlite_mobilenetv2_voc0712.py
# Data: data/VOCdevkit/{VOC2007,VOC2012} (the official layout); another root:
#   MMKD_VOC_ROOT=/path/to/VOCdevkit/ python tools/train.py ...
# Model and recipe: mmdet's SSDLite (its 3234 anchors at 320 px) with 20 VOC classes.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

default_scope = 'mmdet'
custom_imports = dict(imports=['mmkd_green', 'mmkd_green.detection'], allow_failed_imports=False)

input_size = 320
model = dict(
    backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained',
                                checkpoint='open-mmlab://mmdet/mobilenet_v2')),
    bbox_head=dict(type='SafeSSDHead', num_classes=20))

# ---------------------------------------------------------------- data: VOC07+12 -> VOC07 test
dataset_type = 'VOCLayoutDataset'
data_root = '{{$MMKD_VOC_ROOT:data/VOCdevkit/}}'
mean = [123.675, 116.28, 103.53]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=mean, to_rgb=True, ratio_range=(1, 4)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
voc_trainval = [
    dict(type=dataset_type, data_root=data_root, ann_file=f'{year}/ImageSets/Main/trainval.txt',
         data_prefix=dict(sub_data_root=f'{year}/'),
         filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=train_pipeline)
    for year in ('VOC2007', 'VOC2012')
]
train_dataloader = dict(
    _delete_=True,
    batch_size=24,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='RepeatDataset', times=10,
                 dataset=dict(type='ConcatDataset', ignore_keys=['dataset_type'],
                              datasets=voc_trainval)))
val_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='VOC2007/ImageSets/Main/test.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator

# ---------------------------------------------------------------- learning rate for the real batch
# mmdet's recipe: SGD lr 0.015 for 8 GPUs x 24 images = 192 per step. Here one GPU x 24, so the
# linearly scaled lr is 0.015 x 24 / 192 = 1.875e-3. auto_scale_lr is on with the batch this lr is
# for: mmengine multiplies lr by (GPUs x train_dataloader.batch_size) / 24, i.e. x1 on one GPU,
# x8 = mmdet's 0.015 with `tools/dist_train.sh CONFIG 8`, x2/3 with batch_size=16 on one GPU.
optim_wrapper = dict(optimizer=dict(lr=0.015 * 24 / 192))
auto_scale_lr = dict(enable=True, base_batch_size=24)

# ---------------------------------------------------------------- schedule (x10 repeated data)
# 24 epochs over VOC07+12 repeated x10 (~240 passes); the paper's 70 passes, one GPU:
# configs/ssd_kd_stochastic_70e.py (and _fixed_70e, ssdlite_mobilenetv2_voc0712_70e.py)
max_epochs = 24
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True,
         eta_min=0)
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='CarbonFootprintHook'),
]
