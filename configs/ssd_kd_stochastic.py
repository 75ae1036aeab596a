# The headline use: SSDLite-MobileNetV2 student distilled from the VGG16 SSD teacher, per anchor,
# with a stochastic temperature tau ~ U[2, 20] drawn per batch (Rafat et al., 2023), then VOC07 mAP.
#   python tools/train.py configs/ssd_vgg16_voc0712.py      # the teacher, once
#   python tools/train.py configs/ssd_kd_stochastic.py
# Loss: (1 - alpha) * SSD cls loss + SSD box loss + alpha * tau^2 * KL over positives and mined
# negatives (see mmkd_green/detection/distiller.py). Validation/test run the student alone;
# tools/export_student.py writes it as a plain mmdet checkpoint.
_base_ = './ssdlite_mobilenetv2_voc0712.py'

temperature = dict(type='UniformTemperature', low=2.0, high=20.0)  # discrete=True: integers 2..20
model = dict(
    _delete_=True,
    type='SSDDistiller',
    student={{_base_.model}},
    teacher_config='configs/ssd_vgg16_voc0712.py',
    teacher_ckpt='work_dirs/ssd_vgg16_voc0712/epoch_24.pth',
    input_size=320,
    kd_loss=dict(type='HKDLoss', alpha=0.95),   # or BgWeightedSoftCELoss: ssd_kd_chen2017.py
    kd_anchors='pos_hardneg',   # or 'all'
    bbox_kd=None)               # or dict(type='TeacherBoundedRegLoss', margin=0.0, loss_weight=0.5)
custom_hooks = [
    dict(type='TemperatureHook'),
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='CarbonFootprintHook'),
]
