# CIFAR-10: ShuffleNetV2 student baseline (cross-entropy only),
# the paper's 100-epoch schedule.
_base_ = ['../_base_/cls_cifar10.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_runtime.py']

model = dict(type='PlainClassifier', backbone=dict(type='CifarShuffleNetV2', num_classes=10))
work_dir = 'work_dirs/cifar10/shufflenetv2_student'
