# configs/ssd_kd_stochastic.py with the two options of the paper's detection KD code (Chen et al.,
# NeurIPS 2017, "Learning Efficient Object Detection Models with Knowledge Distillation"):
#  * KD term: soft cross-entropy with the background class weighted 1.5, BgWeightedSoftCELoss:
#    alpha·τ²·(−Σ_k w_k p_t,k log p_s,k), w_background = 1.5, others 1; SSD hard loss × (1 − alpha)
#  * τ drawn per batch from the integers 2..20 (UniformTemperature(discrete=True))
#   python tools/train.py configs/ssd_kd_chen2017.py
# Either option alone on the default config:
#   --cfg-options temperature.discrete=True
#   --cfg-options model.kd_loss.type=BgWeightedSoftCELoss model.kd_loss.alpha=0.5
_base_ = './ssd_kd_stochastic.py'

temperature = dict(discrete=True)
model = dict(kd_loss=dict(_delete_=True, type='BgWeightedSoftCELoss', alpha=0.5, bg_weight=1.5,
                          bg_index=-1, tau_squared=True))
