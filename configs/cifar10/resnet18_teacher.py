# CIFAR-10: ResNet-18 teacher baseline (cross-entropy only),
# the paper's 100-epoch schedule.
_base_ = ['../_base_/cls_cifar10.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_runtime.py']

model = dict(type='PlainClassifier', backbone=dict(type='CifarResNet18', num_classes=10))
work_dir = 'work_dirs/cifar10/resnet18_teacher'
