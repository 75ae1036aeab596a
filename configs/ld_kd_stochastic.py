# mmdet's own KD detector on the shared stochastic τ: Localization Distillation (LD, Zheng et al.
# 2022; GFL ResNet-101 teacher -> GFL ResNet-18 student on COCO, mmdet's
# ld_r18-gflv1-r101_fpn_1x_coco.py) with τ ~ U[2, 20] drawn per batch instead of its fixed T=10,
# plus the energy/carbon meter. Nothing of mmdet's model changes: SharedTemperatureLoss sets
# `KnowledgeDistillationKLDivLoss.T = τ(i)` before each call (mmdet's own loss computes
# τ²·KL(softmax(t/τ) ‖ softmax(s/τ)) over the box-edge distributions); mmdet's T >= 1 is checked.
#   python tools/train.py configs/ld_kd_stochastic.py                 # COCO under data/coco/
#   python tools/train.py configs/ld_kd_fixed.py                      # the same with τ = 10 fixed
# Integer τ as in the authors' detection code: --cfg-options temperature.discrete=True
# Any other mmdet config works the same way: wrap its temperature-taking loss in
# dict(type='SharedTemperatureLoss', loss=<the original loss dict>) and add the two hooks.
_base_ = 'mmdet::ld/ld_r18-gflv1-r101_fpn_1x_coco.py'

custom_imports = dict(imports=['mmkd_green', 'mmkd_green.detection'], allow_failed_imports=False)

temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
model = dict(
    teacher_config='configs/mmdet_teachers/gfl_r101_fpn_ms-2x_coco.py',
    bbox_head=dict(
        loss_ld=dict(_delete_=True, type='SharedTemperatureLoss',
                     loss=dict(type='KnowledgeDistillationKLDivLoss', loss_weight=0.25, T=10))))
custom_hooks = [
    dict(type='TemperatureHook'),
    dict(type='CarbonFootprintHook'),
]
