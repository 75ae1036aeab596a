"""The data-free distiller: a frozen teacher, a student, a synthesizer and a KD loss.

Training steps see only synthetic images ``x`` sampled from the synthesizer's bank; the student
gets no cross-entropy (there are no labels), only the soft KD term with the run's shared τ::

    L_kd = KD(s(x), t(x); τ)      e.g. HKDLoss(alpha=1): τ² · KL(softmax(t/τ) ‖ softmax(s/τ))

which is upstream CMI's ``KLDiv(T)`` with ``T`` replaced by the τ that ``TemperatureHook``
publishes (a ``ConstantTemperature`` gives the fixed-τ baseline).

The teacher is held outside the module tree (:class:`FrozenTeacherMixin`). The synthesizer is
also held outside it (so the runner's optimizer and DDP see only the student), but its state —
generator, projection head and its optimizer, image bank, feature bank — is this model's
``_extra_state`` in every checkpoint, so ``resume`` restores it.

Memory layout: binding the synthesizer puts teacher, student (and CMI's generator) in its layout
(``channels_last`` → NHWC weights, see ``BaseSynthesizer.apply_layout``), and :meth:`forward`
hands KD and validation batches to the networks in the same layout, so synthesis, KD steps and
evaluation all run NHWC kernels end to end (or all NCHW).

Under DDP each rank holds its own synthesizer (own bank; see :mod:`.loop`) bound to the
*unwrapped* student: synthesis calls the student module directly (eval mode, no weight
gradients), never through the DDP wrapper, so it triggers no gradient all-reduce. Checkpoints
are written by rank 0 and carry rank 0's synthesizer state; a resume restores it on every rank.
The ``_extra_state`` entry of :meth:`state_dict` is a dict, not a tensor: code that broadcasts
every entry (mmengine's ``Runner._init_model_weights``) must skip it (the loop arranges that).
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from mmkd_green.classification.backbones import WideResNet
from mmkd_green.classification.backbones.wrn_layout import UPSTREAM_TO_OURS
from mmkd_green.classification.models.classifier import pack_predictions
from mmkd_green.registry import MODELS
from mmkd_green.utils.teacher import FrozenTeacherMixin, load_weights


def _build(cfg_or_module, what):
    if isinstance(cfg_or_module, nn.Module):
        return cfg_or_module
    if not isinstance(cfg_or_module, dict) or 'type' not in cfg_or_module:
        raise TypeError(f'DataFreeDistiller: `{what}` must be a module or a config dict with a '
                        f'`type`, got {cfg_or_module!r}')
    return MODELS.build(cfg_or_module)


@MODELS.register_module()
class DataFreeDistiller(FrozenTeacherMixin, BaseModel):
    """Args:
        student (dict | nn.Module): e.g. ``dict(type='WideResNet', depth=16, widen_factor=1)``.
        teacher (dict | nn.Module): e.g. WRN-40-2; frozen.
        synthesizer (dict | BaseSynthesizer): ``CMISynthesizer`` / ``DeepInversionSynthesizer``.
        teacher_ckpt (str, optional): teacher weights (local path or URL). ``None`` keeps the
            teacher as given (only sensible for tests with an already trained module).
        kd_loss (dict): a KD loss from MODELS called as ``loss(student_logits, teacher_logits)``.
        data_preprocessor (dict, optional): normalises KD batches and real validation images
            alike; default ``ImgDataPreprocessor`` with the synthesizer's ``mean``/``std`` on the
            0..255 scale (a given one must use the same statistics: the teacher sees one input
            distribution in synthesis, KD and validation).

    Modes: ``'loss'`` → ``dict(loss_kd=...)``; ``'tensor'`` → student logits; ``'predict'`` →
    data samples with ``pred_score``/``pred_label`` (``ClassificationMetric`` on real CIFAR).
    Teacher checkpoints may be plain state dicts, ``PlainClassifier`` checkpoints (``backbone.*``)
    or DDP ones (``module.*``); a ``WideResNet`` teacher also loads upstream zju-vipa/CMI's WRN
    key layout (``block1.layer.0.*``, ``bn1.*``; see ``wrn_layout.py``).
    """

    def __init__(self, student, teacher, synthesizer, teacher_ckpt: Optional[str] = None,
                 kd_loss: dict = dict(type='HKDLoss', alpha=1.0),
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg=None):
        synth = _build(synthesizer, 'synthesizer')
        mean = tuple(255.0 * m for m in synth.normalize.mean)
        std = tuple(255.0 * s for s in synth.normalize.std)
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor', mean=mean, std=std)
        elif isinstance(data_preprocessor, dict) and (
                'mean' in data_preprocessor or 'std' in data_preprocessor):
            given = [tuple(float(v) for v in data_preprocessor.get(k, ())) for k in ('mean', 'std')]
            if not all(len(g) == len(r) and all(abs(a - b) < 1e-3 for a, b in zip(g, r))
                       for g, r in zip(given, (mean, std))):
                raise ValueError(
                    f'DataFreeDistiller: data_preprocessor mean/std {given} differ from the '
                    f'synthesizer\'s {list(mean)}, {list(std)} (0..255 scale). Set the '
                    'synthesizer\'s `mean`/`std` (0..1 scale) to the teacher\'s normalisation and '
                    'drop them from the data_preprocessor (it is derived from the synthesizer).')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = _build(student, 'student')
        teacher = _build(teacher, 'teacher')
        if teacher_ckpt is not None:
            revise = [(r'^module\.', ''), (r'^backbone\.', '')]
            if isinstance(teacher, WideResNet):        # upstream CMI's WRN layout loads too
                revise += [(p.pattern, r) for p, r in UPSTREAM_TO_OURS]
            load_weights(teacher, teacher_ckpt, what='teacher', config_key='model.teacher_ckpt',
                         revise_keys=revise)
        self.set_teacher(teacher)
        self.kd_loss = _build(kd_loss, 'kd_loss')
        self.__dict__['_synthesizer'] = synth.bind(self.teacher, self.student)

    @property
    def synthesizer(self):
        return self.__dict__['_synthesizer']

    # -- device moves and checkpoint state reach the synthesizer too ------------------------
    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        self.synthesizer._apply(fn, *args, **kwargs)
        return out

    def get_extra_state(self) -> dict:
        return dict(synthesizer=self.synthesizer.state_dict())

    def set_extra_state(self, state: dict) -> None:
        self.synthesizer.load_state_dict(state['synthesizer'])

    # -- steps -----------------------------------------------------------------------------
    def synthesize(self, progress=None) -> dict:
        """One synthesis round (the train loop calls this between KD steps)."""
        return self.synthesizer.synthesize(progress=progress)

    def sample_batch(self, batch_size: int) -> dict:
        """A KD batch from the bank in ``train_step``'s format: augmented images on the 0..255
        scale, which the data preprocessor normalises like real images."""
        return dict(inputs=self.synthesizer.sample(batch_size, normalize=False).mul_(255))

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        # the networks' layout (synthesizer.apply_layout): NHWC inputs with channels_last
        inputs = self.synthesizer.net_input(inputs)
        if mode == 'loss':
            with torch.no_grad():
                t_logits = self.teacher(inputs)
            s_logits = self.student(inputs)
            return dict(loss_kd=self.kd_loss(s_logits, t_logits))
        if mode == 'predict':
            return pack_predictions(self.student(inputs), data_samples)
        if mode == 'tensor':
            return self.student(inputs)
        raise ValueError(f'DataFreeDistiller: unknown mode {mode!r} (loss | tensor | predict)')
