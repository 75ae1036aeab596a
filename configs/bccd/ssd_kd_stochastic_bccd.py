# KD on BCCD: the toy-sized student from the toy-sized teacher, τ ~ U[2, 20] per batch (the study
# of tools/tune_temperature.py --profile bccd; fixed τ: ssd_kd_fixed_bccd.py).
#   python tools/train.py configs/bccd/ssd_kd_stochastic_bccd.py \
#       --cfg-options model.teacher_ckpt=work_dirs/ssd_teacher_bccd/epoch_20.pth
_base_ = './ssdlite_student_bccd.py'

temperature = dict(type='UniformTemperature', low=2.0, high=20.0)  # discrete=True: integers 2..20
model = dict(
    _delete_=True,
    type='SSDDistiller',
    student={{_base_.model}},
    teacher_config='configs/bccd/ssd_teacher_bccd.py',
    teacher_ckpt='work_dirs/ssd_teacher_bccd/epoch_20.pth',
    input_size=128,
    kd_loss=dict(type='HKDLoss', alpha=0.95),
    kd_anchors='pos_hardneg',
    bbox_kd=None)
custom_hooks = [
    dict(type='TemperatureHook'),
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='CarbonFootprintHook'),
]
