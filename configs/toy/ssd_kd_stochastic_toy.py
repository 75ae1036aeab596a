# Toy KD (README demo): the toy student distilled from the toy teacher with tau ~ U[2, 20] per
# batch; same distiller and hooks as configs/ssd_kd_stochastic.py. tools/demo.py sets
# model.teacher_ckpt to the teacher it has just trained.
_base_ = './ssdlite_student_toy.py'

temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
model = dict(
    _delete_=True,
    type='SSDDistiller',
    student={{_base_.model}},
    teacher_config='configs/toy/ssd_teacher_toy.py',
    teacher_ckpt='work_dirs/demo/teacher/epoch_20.pth',
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
