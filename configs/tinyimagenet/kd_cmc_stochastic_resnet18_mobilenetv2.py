# Tiny ImageNet: ResNet-18 teacher -> MobileNetV2 student,
# altered Ba & Caruana logit matching (CMC),
# stochastic temperature tau ~ U[2, 20] drawn per batch (from cls_kd_runtime.py).
# Train the teacher first:
#   python tools/train.py configs/tinyimagenet/resnet18_teacher.py
_base_ = ['../_base_/cls_tinyimagenet.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_kd_runtime.py']

data_preprocessor = dict(type='ImgDataPreprocessor',
                         mean=(123.675, 116.28, 103.53),
                         std=(58.395, 57.12, 57.375))
model = dict(
    type='KDClassifier',
    data_preprocessor=data_preprocessor,
    student=dict(type='CifarMobileNetV2', num_classes=200),
    teacher=dict(type='CifarResNet18', num_classes=200),
    teacher_ckpt='work_dirs/tinyimagenet/resnet18_teacher/epoch_100.pth',
    kd_loss=dict(type='CMCLoss', alpha=0.95))
work_dir = 'work_dirs/tinyimagenet/kd_cmc_stochastic_resnet18_mobilenetv2'
