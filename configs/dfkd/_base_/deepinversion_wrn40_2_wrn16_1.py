# DeepInversion (Yin et al. 2020), WRN-40-2 teacher -> WRN-16-1 student. Every value from
# upstream zju-vipa/CMI 9e79fa9 (files of that repository):
#   scripts/deepinv/deepinv_cifar10_wrn402_wrn161.sh: --batch_size 256 (synthesis and KD),
#     --g_steps 1000 (iterations), --lr_g 0.1 (lr), --bn 10, --oh 1, --adv 1, --epochs 200,
#     --kd_steps 400, --ep_steps 400, --lr 0.1, --T 20 (fixed-τ configs), --seed 0
#   datafree_kd.py: DeepInvSyntheiszer(tv=0.001, l2=0.0); SGD momentum 0.9, --weight_decay
#     default 1e-4; CosineAnnealingLR(T_max=epochs); KLDiv(T) as the KD loss
#   datafree/synthesis/deepinversion.py: Adam betas (0.5, 0.99), jitter 1/8 + flip, JS
#     divergence at T=3 for the adaptive term, pixels clipped to the valid range per step, and
#     the batch kept per round = the last one (keep='last', see DeepInversionSynthesizer)
num_classes = 10
model = dict(
    type='DataFreeDistiller',
    teacher=dict(type='WideResNet', depth=40, widen_factor=2, num_classes=num_classes),
    student=dict(type='WideResNet', depth=16, widen_factor=1, num_classes=num_classes),
    teacher_ckpt='work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth',
    kd_loss=dict(type='HKDLoss', alpha=1.0),   # τ² KL(p_t^τ ‖ p_s^τ): upstream's KLDiv(T=τ)
    synthesizer=dict(
        type='DeepInversionSynthesizer', num_classes=num_classes, img_size=(3, 32, 32),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010),
        synthesis_batch_size=256, iterations=1000, lr=0.1,
        bn=10.0, oh=1.0, adv=1.0, tv=1e-3, l2=0.0, bank_size=None))
