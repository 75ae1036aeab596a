"""``SSDDistiller``: per-anchor logit KD from a frozen SSD teacher into an SSD(Lite) student.

Training loss, per batch (``S`` = distilled anchors, ``P`` = positive anchors, ``N_pos = |P|``,
``z_s, z_t`` = student / teacher logits over the ``C + 1`` classes of an anchor, background last)::

    L = w_hard · L_cls^SSD  +  L_bbox^SSD  +  Σ_{a∈S} kd(z_s,a, z_t,a; τ) / N_pos  [+ L_b]

* ``L_cls^SSD``, ``L_bbox^SSD``: mmdet's SSD loss of the student (softmax CE over positives and
  the ``neg_pos_ratio × N_pos`` hardest negatives, smooth-L1 over positives, both / N_pos).
* ``kd`` is the configured KD loss called *without labels*, i.e. its soft term; with the default
  ``HKDLoss(alpha=α)`` that is ``α · τ² · KL(softmax(z_t/τ) ‖ softmax(z_s/τ))`` and
  ``w_hard = 1 − α``, so over ``S`` = positives + mined negatives the classification part is
  exactly Hinton's ``(1 − α)·CE + α·τ²·KL`` per anchor, normalised like SSD's CE. The box loss
  keeps weight 1 (it has no soft counterpart). ``w_hard`` is the loss's
  ``BaseKDLoss.hard_label_weight``: ``1 − alpha`` for HKD/CMC, ``ce_weight`` for DML.
* ``S``: ``kd_anchors='pos_hardneg'`` (default) = the anchors the SSD classification loss uses;
  ``'all'`` = every anchor with a non-zero label weight (still divided by ``N_pos``, so it weighs
  roughly ``A / ((1 + neg_pos_ratio)·N_pos)`` times more).
* τ: the loss's fixed ``tau`` if set, else the run's shared τ (TemperatureHook). A per-sample τ
  (shape ``(B,)``) is expanded to every anchor of its image.
* ``L_b`` (optional ``bbox_kd``, e.g. ``TeacherBoundedRegLoss``): teacher-bounded regression on
  positives (needs identical box coders).

The teacher is built from its own config (a path or a dict) and checkpoint, frozen, held outside
the module tree (not in ``state_dict``/optimizer/DDP, see ``FrozenTeacherMixin``) and fed the raw
batch through *its own* ``data_preprocessor`` (own mean/std/channel order), resized to
``teacher_input_size`` when that differs from the student's batch. Per-anchor KD needs anchor
``a`` of the teacher to be anchor ``a`` of the student: the grids per level, anchors per cell and
class count must agree and the anchors, divided by each model's input size, must coincide
(the teacher uses the student's layout scaled to its input). All of this is checked at build
time, with both numbers in the error. Validation, test and predict run the student alone.
"""
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.detectors.base import BaseDetector
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseDataPreprocessor

from ..losses.base import BaseKDLoss
from ..temperature.current import get_current_temperature
from ..utils.teacher import FrozenTeacherMixin, load_weights
from .ssd_head import SafeSSDHead

KD_ANCHORS = ('pos_hardneg', 'all')


def _pair(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return (int(size[0]), int(size[1]))
    raise ValueError(f'input sizes must be an int or (h, w), got {size!r}')


def load_teacher_model_cfg(teacher_config) -> dict:
    """The teacher's ``model`` dict from a config path, a full config dict or a model dict."""
    if isinstance(teacher_config, str):
        if not osp.isfile(teacher_config):
            raise FileNotFoundError(
                f'teacher config not found: {teacher_config!r} (relative paths are read from the '
                f'current directory {osp.abspath(".")}). Fix `model.teacher_config`.')
        teacher_config = Config.fromfile(teacher_config)
    if isinstance(teacher_config, (dict, ConfigDict, Config)):
        cfg = teacher_config.get('model', teacher_config)
        if 'type' not in cfg:
            raise ValueError('model.teacher_config: a config without a `model` (or model dict '
                             'without `type`)')
        return dict(cfg)
    raise TypeError(f'model.teacher_config must be a path or a dict, got {type(teacher_config)}')


@MODELS.register_module()
class SSDDistiller(FrozenTeacherMixin, BaseDetector):
    """Distil a frozen SSD teacher into an SSD(Lite) student anchor by anchor (module docstring).

    Args:
        student (dict): the student detector (e.g. the SSDLite config's ``model``).
        teacher_config (str | dict): teacher config file (its ``model`` is used) or model dict.
        teacher_ckpt (str): teacher checkpoint (path or URL); missing → error at build.
        input_size (int | (h, w)): the student's input size (its pipeline's Resize), used for the
            build-time anchor check.
        teacher_input_size (int | (h, w), optional): the teacher's input size; the batch is resized
            (bilinear) to it. ``None``: the student's batch size.
        kd_loss (dict): KD loss (``HKDLoss``/``CMCLoss``/``DMLLoss``), ``tau=None`` for shared τ.
        kd_anchors (str): ``'pos_hardneg'`` or ``'all'``.
        neg_pos_ratio (int, optional): hard negatives per positive for KD (default: the student
            head's ``train_cfg.neg_pos_ratio``).
        bbox_kd (dict, optional): e.g. ``dict(type='TeacherBoundedRegLoss', margin=0.0,
            loss_weight=0.5)``.
    """

    def __init__(self, student: dict, teacher_config: Union[str, dict], teacher_ckpt: str,
                 input_size: Union[int, Sequence[int]],
                 teacher_input_size: Union[int, Sequence[int], None] = None,
                 kd_loss: dict = dict(type='HKDLoss', alpha=0.95),
                 kd_anchors: str = 'pos_hardneg', neg_pos_ratio: Optional[int] = None,
                 bbox_kd: Optional[dict] = None, data_preprocessor=None, init_cfg=None):
        # The distiller itself only moves the raw batch to the device: student and teacher each
        # apply their own preprocessor. mmdet configs define a top-level `data_preprocessor` that
        # mmengine's Runner injects into every model dict; normalising here would normalise the
        # teacher's input twice, so whatever arrives is ignored.
        del data_preprocessor
        super().__init__(data_preprocessor=BaseDataPreprocessor(), init_cfg=init_cfg)
        if kd_anchors not in KD_ANCHORS:
            raise ValueError(f"kd_anchors must be one of {KD_ANCHORS}, got {kd_anchors!r}")
        self.kd_anchors, self.neg_pos_ratio = kd_anchors, neg_pos_ratio
        self.input_size, self.teacher_input_size = _pair(input_size), _pair(teacher_input_size)
        if self.input_size is None:
            raise ValueError('SSDDistiller needs `input_size` (the student pipeline\'s Resize '
                             'scale, e.g. 320)')
        self.student = MODELS.build(student)
        self.kd_loss = MODELS.build(kd_loss)
        if not isinstance(self.kd_loss, BaseKDLoss):
            raise TypeError(f'kd_loss must be an mmkd_green KD loss, got {type(self.kd_loss)}')
        self.hard_weight = self.kd_loss.hard_label_weight
        self.bbox_kd = MODELS.build(bbox_kd) if bbox_kd else None
        teacher = MODELS.build(load_teacher_model_cfg(teacher_config))
        self._check_pair(self.student, teacher)
        load_weights(teacher, teacher_ckpt, what='teacher', config_key='model.teacher_ckpt')
        self.set_teacher(teacher)

    # ------------------------------------------------------------------ build-time checks
    @staticmethod
    def _head(model, who: str):
        head = getattr(model, 'bbox_head', None)
        if head is None or not hasattr(head, 'prior_generator') or \
                getattr(head, 'use_sigmoid_cls', True):
            raise TypeError(f'SSDDistiller: the {who} must be a single-stage detector with an SSD '
                            f'softmax head (SafeSSDHead), got {type(head).__name__}')
        return head

    @staticmethod
    def _grids(model, size) -> list:
        was = model.training
        model.eval()
        with torch.no_grad():
            cls, _ = model.bbox_head(model.extract_feat(torch.zeros(1, 3, *size)))
        model.train(was)
        return [tuple(c.shape[-2:]) for c in cls]

    def _check_pair(self, student, teacher) -> None:
        hs, ht = self._head(student, 'student'), self._head(teacher, 'teacher')
        if hs.num_classes != ht.num_classes:
            raise ValueError(f'teacher predicts {ht.num_classes} classes, student '
                             f'{hs.num_classes}: per-anchor KD needs the same classes (set '
                             'bbox_head.num_classes of the teacher config to the student\'s)')
        t_size = self.teacher_input_size or self.input_size
        gs, gt = self._grids(student, self.input_size), self._grids(teacher, t_size)
        ps, pt = hs.num_anchors_per_level, ht.prior_generator.num_base_priors
        ns = sum(h * w * p for (h, w), p in zip(gs, ps))
        nt = sum(h * w * p for (h, w), p in zip(gt, pt))
        if gs != gt or list(ps) != list(pt):
            raise ValueError(
                f'teacher has {nt} anchors (grids {gt}, {list(pt)} per cell at {t_size}), student '
                f'{ns} (grids {gs}, {list(ps)} per cell at {self.input_size}): give the teacher '
                'config the student\'s anchor layout (same grid per level and anchors per cell, '
                'anchor sizes scaled to the teacher input; see configs/ssd_vgg16_voc0712.py) or '
                'fix model.teacher_input_size')
        dev = 0.0
        for lvl, (g, ts, ss) in enumerate(zip(gs, self._scale(t_size), self._scale(self.input_size))):
            a_t = ht.prior_generator.single_level_grid_priors(g, lvl, device='cpu') / ts
            a_s = hs.prior_generator.single_level_grid_priors(g, lvl, device='cpu') / ss
            dev = max(dev, float((a_t - a_s).abs().max()))
        if dev > 0.02:
            raise ValueError(
                f'teacher and student anchors differ by up to {dev:.3f} of the image size (both '
                f'have {ns} anchors): the teacher\'s anchor_generator must be the student\'s '
                'layout scaled to the teacher input (strides, min/max sizes, ratios)')
        if self.bbox_kd is not None:
            cs, ct = hs.bbox_coder, ht.bbox_coder
            if type(cs) is not type(ct) or list(cs.means) != list(ct.means) or \
                    list(cs.stds) != list(ct.stds):
                raise ValueError('bbox_kd compares deltas, so teacher and student need the same '
                                 f'bbox_coder (student {type(cs).__name__} means={cs.means} '
                                 f'stds={cs.stds}, teacher {type(ct).__name__} means={ct.means} '
                                 f'stds={ct.stds})')

    @staticmethod
    def _scale(size):
        h, w = size
        return torch.tensor([w, h, w, h], dtype=torch.float32)

    # ------------------------------------------------------------------ plumbing
    def _set_device(self, device) -> None:   # mmengine: keep the teacher's preprocessor in step
        super()._set_device(device)
        if self.teacher is not None:
            for m in self.teacher.modules():
                if isinstance(m, BaseDataPreprocessor):
                    m._device = device

    def _student_batch(self, inputs, data_samples, training: bool) -> dict:
        return self.student.data_preprocessor(dict(inputs=inputs, data_samples=data_samples),
                                              training)

    def teacher_inputs(self, inputs) -> torch.Tensor:
        """The raw batch through the teacher's own preprocessor (and resize)."""
        out = self.teacher.data_preprocessor(dict(inputs=inputs, data_samples=None),
                                             False)['inputs']
        size = self.teacher_input_size
        if size is not None and tuple(out.shape[-2:]) != size:
            out = F.interpolate(out, size=size, mode='bilinear', align_corners=False)
        return out

    def teacher_outputs(self, inputs) -> Tuple[torch.Tensor, torch.Tensor]:
        """Teacher ``(B, A, C+1)`` logits and ``(B, A, 4)`` deltas, no grad."""
        with torch.no_grad():
            x = self.teacher_inputs(inputs)
            cls, reg = self.teacher.bbox_head(self.teacher.extract_feat(x))
            return SafeSSDHead.flatten_outputs(self.teacher.bbox_head, cls, reg)

    def _row_tau(self, img_idx: torch.Tensor, batch_size: int):
        if self.kd_loss.tau is not None:
            return None    # the loss's fixed τ wins
        tau = get_current_temperature()
        if torch.is_tensor(tau) and tau.ndim == 1:
            if tau.numel() != batch_size:
                raise ValueError(f'per-sample τ has {tau.numel()} values for a batch of '
                                 f'{batch_size} images')
            return tau.to(img_idx.device)[img_idx]
        return tau

    # ------------------------------------------------------------------ BaseDetector API
    def loss(self, batch_inputs, batch_data_samples) -> dict:
        t_cls, t_reg = self.teacher_outputs(batch_inputs)
        batch = self._student_batch(batch_inputs, batch_data_samples, True)
        head = self.student.bbox_head
        cls, reg = head(self.student.extract_feat(batch['inputs']))
        gts, ignores, metas = unpack_gt_instances(batch['data_samples'])
        tg = head.flat_targets(cls, reg, gts, metas, ignores)
        if t_cls.shape != tg['cls_scores'].shape:
            raise RuntimeError(
                f'teacher gives {t_cls.shape[1]} anchors × {t_cls.shape[2]} logits, student '
                f'{tg["cls_scores"].shape[1]} × {tg["cls_scores"].shape[2]} on this batch of size '
                f'{tuple(batch["inputs"].shape[-2:])}: train at input_size={self.input_size}')
        losses = head.loss_from_targets(tg)
        losses['loss_cls'] = [v * self.hard_weight for v in losses['loss_cls']]
        if self.kd_anchors == 'pos_hardneg':
            mask = head.mined_mask(tg['cls_scores'], tg['labels'], tg['label_weights'],
                                   self.neg_pos_ratio)
        else:
            mask = tg['label_weights'] > 0
        img_idx = mask.nonzero(as_tuple=False)[:, 0]
        losses['loss_kd'] = self.kd_loss(
            tg['cls_scores'][mask], t_cls[mask].to(cls[0].dtype),
            tau=self._row_tau(img_idx, mask.size(0)), avg_factor=tg['avg_factor'],
            reduction_override='mean')
        if self.bbox_kd is not None:
            pos = (tg['labels'] >= 0) & (tg['labels'] < head.num_classes)
            losses['loss_bbox_kd'] = self.bbox_kd(tg['bbox_preds'][pos], t_reg[pos],
                                                  tg['bbox_targets'][pos],
                                                  avg_factor=tg['avg_factor'])
        return losses

    def predict(self, batch_inputs, batch_data_samples, rescale: bool = True):
        """The student alone (the teacher is not run)."""
        batch = self._student_batch(batch_inputs, batch_data_samples, False)
        return self.student.predict(batch['inputs'], batch['data_samples'], rescale=rescale)

    def _forward(self, batch_inputs, batch_data_samples=None):
        batch = self._student_batch(batch_inputs, batch_data_samples, False)
        return self.student._forward(batch['inputs'], batch['data_samples'])

    def extract_feat(self, batch_inputs):
        """Student features of an already preprocessed batch."""
        return self.student.extract_feat(batch_inputs)
