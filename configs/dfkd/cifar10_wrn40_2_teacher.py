# CIFAR10: the WRN-40-2 teacher of the data-free KD configs (cross-entropy on real data, the
# classification configs' 100-epoch schedule). Output: work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth
_base_ = ['../_base_/cls_cifar10.py', '../_base_/cls_schedule_100e.py', '../_base_/cls_runtime.py']

model = dict(type='PlainClassifier', backbone=dict(type='WideResNet', depth=40, widen_factor=2,
                                                   num_classes=10))
work_dir = 'work_dirs/dfkd/cifar10_wrn40_2_teacher'
