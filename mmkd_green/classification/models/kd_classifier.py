"""Logit knowledge distillation for classification: a frozen teacher and a trained student.

Per batch the student's loss is the configured KD loss of the student and teacher logits with the
labels, e.g. HKD::

    L = α · τ² · KL(softmax(t/τ) ‖ softmax(s/τ)) + (1 − α) · CE(s, y)

where τ is the loss's fixed ``tau`` or, by default, the run's shared τ that ``TemperatureHook``
publishes before each iteration (stochastic τ ~ U[2, 20] in the paper). The teacher runs under
``torch.no_grad`` in eval mode and is held outside the module tree (``FrozenTeacherMixin``): it is
not saved, optimised or wrapped by DDP. ``predict``/``tensor`` use the student only.
"""
from typing import Optional

import torch

from mmkd_green.registry import MODELS
from mmkd_green.utils.teacher import FrozenTeacherMixin, load_weights
from .classifier import PlainClassifier, stack_labels

# a plain classifier's checkpoint has `backbone.*` keys; a bare backbone's none
TEACHER_REVISE_KEYS = ((r'^module\.', ''), (r'^backbone\.', ''))


@MODELS.register_module()
class KDClassifier(FrozenTeacherMixin, PlainClassifier):
    """Student trained against a frozen teacher built from config + checkpoint.

    Args:
        student (dict): student network config (returns logits); stored as ``self.backbone``, so
            the checkpoint loads into the student's ``PlainClassifier`` config.
        teacher (dict): teacher network config.
        teacher_ckpt (str): the teacher's checkpoint (a ``PlainClassifier`` run's ``.pth``, or a
            bare state dict of the network). Missing → ``FileNotFoundError`` at build time.
        kd_loss (dict): ``HKDLoss`` / ``CMCLoss`` / ``DMLLoss`` (or any loss with the
            ``(student_logits, teacher_logits, labels)`` signature).
        data_preprocessor (dict): shared by teacher and student.
            With ``channels_last=True`` there, both networks run in NHWC memory format.
    """

    def __init__(self, student: dict, teacher: dict, teacher_ckpt: Optional[str],
                 kd_loss: dict = dict(type='HKDLoss', alpha=0.95),
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(backbone=student, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        teacher_net = MODELS.build(teacher) if isinstance(teacher, dict) else teacher
        s_cls, t_cls = self.num_classes, getattr(teacher_net, 'num_classes', None)
        if s_cls is not None and t_cls is not None and s_cls != t_cls:
            raise ValueError(f'KDClassifier: the teacher predicts {t_cls} classes but the student '
                             f'{s_cls}; set the same `num_classes` in model.teacher and '
                             f'model.student')
        load_weights(teacher_net, teacher_ckpt, what='teacher', config_key='model.teacher_ckpt',
                     revise_keys=TEACHER_REVISE_KEYS)
        if self.channels_last:
            teacher_net.to(memory_format=torch.channels_last)
        self.set_teacher(teacher_net)
        self.teacher_ckpt = teacher_ckpt
        self.kd_loss = MODELS.build(kd_loss) if isinstance(kd_loss, dict) else kd_loss

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        self.teacher.eval()
        return self.teacher(inputs)

    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        student = self.extract_logits(inputs)
        teacher = self.teacher_logits(inputs)
        if teacher.shape != student.shape:
            raise ValueError(f'KDClassifier: teacher logits {tuple(teacher.shape)} vs student '
                             f'{tuple(student.shape)}: both networks need the same num_classes '
                             f'(teacher {teacher.shape[-1]}, student {student.shape[-1]})')
        labels = stack_labels(data_samples, student.device)
        return dict(loss_kd=self.kd_loss(student, teacher, labels))
