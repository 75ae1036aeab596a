# CMI (Fang et al. 2021), WRN-40-2 teacher -> WRN-16-1 student. Every value from upstream
# zju-vipa/CMI 9e79fa9 (files of that repository):
#   scripts/cmi/cmi_cifar10.sh: --synthesis_batch_size (= --batch_size) 256, --g_steps 200
#     (iterations), --lr_g 1e-3 (lr), --adv 0.5, --bn 1.0, --oh 1.0, --cr 0.8, --cr_T 0.2,
#     --batch_size 256 (KD batch), --kd_steps 400, --ep_steps 400, --lr 0.1, --T 20 (fixed-τ
#     configs), --seed 0
#   datafree_kd.py: --epochs default 200; CMISynthesizer(bank_size=40960, n_neg=4096,
#     head_dim=256), nz 256, Generator(ngf=64, img_size=32, nc=3); SGD momentum 0.9,
#     --weight_decay default 1e-4; CosineAnnealingLR(T_max=epochs); KLDiv(T) as the KD loss
#   datafree/synthesis/contrastive.py: Adam betas (0.5, 0.999) for generator + z, head Adam
#     at lr_g, global view RandomCrop(32, padding=4) + flip, local view RandomResizedCrop
#     (scale 0.25-1.0) + flip, the head's hidden width = its input width
# (the repo's adv/scratch CMI scripts use --cr_T 0.1 and --oh 0.5/1.0 instead; we follow
# cmi_cifar10.sh, the command third_party/README.md documents.)
num_classes = 10
model = dict(
    type='DataFreeDistiller',
    teacher=dict(type='WideResNet', depth=40, widen_factor=2, num_classes=num_classes),
    student=dict(type='WideResNet', depth=16, widen_factor=1, num_classes=num_classes),
    teacher_ckpt='work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth',
    kd_loss=dict(type='HKDLoss', alpha=1.0),   # τ² KL(p_t^τ ‖ p_s^τ): upstream's KLDiv(T=τ)
    synthesizer=dict(
        type='CMISynthesizer', num_classes=num_classes, img_size=(3, 32, 32),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010),
        synthesis_batch_size=256, iterations=200, lr=1e-3,
        adv=0.5, bn=1.0, oh=1.0, cr=0.8, cr_T=0.2,
        generator=dict(type='DCGANGenerator', nz=256, ngf=64, img_size=32, nc=3),
        head_dim=256, feature_bank_size=40960, n_neg=4096, bank_size=None))
