# CIFAR-100: ResNet-18 teacher -> MobileNetV2 student, altered Ba & Caruana logit matching (CMC),
# stochastic temperature tau ~ U[2, 20] drawn per batch (from cls_kd_runtime.py).
# Train the teacher first:
#   python tools/train.py configs/cifar100/resnet18_teacher.py
_base_ = ['../_base_/cls_cifar100.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_kd_runtime.py']

data_preprocessor = dict(type='ImgDataPreprocessor',
                         mean=(129.304, 124.07, 112.434),
                         std=(68.17, 65.392, 70.418))
model = dict(
    type='KDClassifier',
    data_preprocessor=data_preprocessor,
    student=dict(type='CifarMobileNetV2', num_classes=100),
    teacher=dict(type='CifarResNet18', num_classes=100),
    teacher_ckpt='work_dirs/cifar100/resnet18_teacher/epoch_100.pth',
    kd_loss=dict(type='CMCLoss', alpha=0.95))
work_dir = 'work_dirs/cifar100/kd_cmc_stochastic_resnet18_mobilenetv2'
