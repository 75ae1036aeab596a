# CIFAR-100: ShuffleNetV2 student baseline (cross-entropy only),
# the paper's 100-epoch schedule.
_base_ = ['../_base_/cls_cifar100.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_runtime.py']

model = dict(type='PlainClassifier', backbone=dict(type='CifarShuffleNetV2', num_classes=100))
work_dir = 'work_dirs/cifar100/shufflenetv2_student'
