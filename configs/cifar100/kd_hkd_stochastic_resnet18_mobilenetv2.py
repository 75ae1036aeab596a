# CIFAR-100: ResNet-18 teacher -> MobileNetV2 student, Hinton KD (HKD),
# stochastic temperature tau ~ U[2, 20] drawn per batch (from cls_kd_runtime.py).
# Train the teacher first:
#   python tools/train.py configs/cifar100/resnet18_teacher.py
_base_ = ['../_base_/cls_cifar100.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_kd_runtime.py']

model = dict(
    type='KDClassifier',
    student=dict(type='CifarMobileNetV2', num_classes=100),
    teacher=dict(type='CifarResNet18', num_classes=100),
    teacher_ckpt='work_dirs/cifar100/resnet18_teacher/epoch_100.pth',
    kd_loss=dict(type='HKDLoss', alpha=0.95))
work_dir = 'work_dirs/cifar100/kd_hkd_stochastic_resnet18_mobilenetv2'
