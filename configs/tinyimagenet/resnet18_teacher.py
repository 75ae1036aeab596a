# Tiny ImageNet: ResNet-18 teacher baseline (cross-entropy only),
# the paper's 100-epoch schedule.
_base_ = ['../_base_/cls_tinyimagenet.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_runtime.py']

data_preprocessor = dict(type='ImgDataPreprocessor',
                         mean=(123.675, 116.28, 103.53),
                         std=(58.395, 57.12, 57.375))
model = dict(type='PlainClassifier', data_preprocessor=data_preprocessor,
             backbone=dict(type='CifarResNet18', num_classes=200))
work_dir = 'work_dirs/tinyimagenet/resnet18_teacher'
