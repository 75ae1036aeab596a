"""``SafeSSDHead``: mmdet 3.3.0's SSDHead with a working predict path and reusable anchor targets.

Why mmdet's head crashes in val/predict (upstream issues 11063/11780): ``SSDHead.__init__`` skips
``AnchorHead.__init__`` (it calls ``super(AnchorHead, self).__init__``), so ``self.loss_cls`` is
never created, yet ``BaseDenseHead._predict_by_feat_single`` asks
``getattr(self.loss_cls, 'custom_cls_channels', False)`` to decide how scores are activated
(v3det's custom-channel losses). SSD's classification loss *is* a softmax cross-entropy over
``num_classes + 1`` outputs (background last) with hard-negative mining, so this head sets
``loss_cls`` to that loss (mmdet's ``CrossEntropyLoss(use_sigmoid=False)``, no custom channels):
the attribute now tells the truth, predict takes its softmax branch
(``scores = softmax(cls_score)[:, :-1]``), and the parameters are exactly SSDHead's (the loss has
none), so checkpoints are interchangeable with mmdet's own SSDHead.

:meth:`flat_targets` exposes what ``SSDHead.loss_by_feat`` computes internally (per-anchor
labels, weights, box targets, anchors, flattened scores), so the distiller selects KD anchors with
exactly the detector loss's assignment; :meth:`loss_by_feat` is built on it (same result as
mmdet's). :meth:`mined_mask` marks positives plus the hard negatives the SSD loss keeps.
"""
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import SSDHead
from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS

from .hard_negatives import hard_negative_mask


@MODELS.register_module()
class SafeSSDHead(SSDHead):
    """SSDHead that validates and predicts (see the module docstring); same arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The classification loss SSD really uses (softmax CE, see loss_by_feat_single); it has no
        # parameters or buffers, so state_dicts stay identical to mmdet's SSDHead.
        self.loss_cls = MODELS.build(dict(type='CrossEntropyLoss', use_sigmoid=False,
                                          loss_weight=1.0))

    @property
    def num_anchors_per_level(self) -> List[int]:
        return list(self.prior_generator.num_base_priors)

    def flatten_outputs(self, cls_scores, bbox_preds):
        """Per-level maps → ``(B, A, C+1)`` scores and ``(B, A, 4)`` deltas, anchor order of mmdet
        (level, then y, x, then base anchor)."""
        n = cls_scores[0].size(0)
        cls = torch.cat([s.permute(0, 2, 3, 1).reshape(n, -1, self.cls_out_channels)
                         for s in cls_scores], 1)
        reg = torch.cat([b.permute(0, 2, 3, 1).reshape(n, -1, 4) for b in bbox_preds], 1)
        return cls, reg

    def flat_targets(self, cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                     batch_gt_instances_ignore=None) -> Dict[str, torch.Tensor]:
        """Anchor assignment of SSD's loss, flattened over levels.

        Returns a dict with ``cls_scores (B, A, C+1)``, ``bbox_preds (B, A, 4)``, ``labels (B, A)``
        (background = ``num_classes``), ``label_weights (B, A)``, ``bbox_targets``/``bbox_weights``
        ``(B, A, 4)``, ``anchors (B, A, 4)`` and ``avg_factor`` (number of positive anchors in the
        batch, the SSD loss normaliser).
        """
        featmap_sizes = [f.size()[-2:] for f in cls_scores]
        if len(featmap_sizes) != self.prior_generator.num_levels:
            raise ValueError(f'SafeSSDHead: {len(featmap_sizes)} feature levels but the anchor '
                             f'generator has {self.prior_generator.num_levels}')
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(featmap_sizes, batch_img_metas,
                                                        device=device)
        (labels_list, label_weights_list, bbox_targets_list, bbox_weights_list,
         avg_factor) = self.get_targets(anchor_list, valid_flag_list, batch_gt_instances,
                                        batch_img_metas,
                                        batch_gt_instances_ignore=batch_gt_instances_ignore,
                                        unmap_outputs=True)
        n = len(batch_img_metas)
        cls, reg = self.flatten_outputs(cls_scores, bbox_preds)
        return dict(
            cls_scores=cls, bbox_preds=reg,
            labels=torch.cat(labels_list, -1).view(n, -1),
            label_weights=torch.cat(label_weights_list, -1).view(n, -1),
            bbox_targets=torch.cat(bbox_targets_list, -2).view(n, -1, 4),
            bbox_weights=torch.cat(bbox_weights_list, -2).view(n, -1, 4),
            anchors=torch.stack([torch.cat(a) for a in anchor_list]),
            avg_factor=avg_factor)

    def mined_mask(self, cls_scores: torch.Tensor, labels: torch.Tensor,
                   label_weights: torch.Tensor, neg_pos_ratio=None) -> torch.Tensor:
        """``(B, A)`` bool: positive anchors plus, per image, the ``neg_pos_ratio × #pos``
        negatives with the highest cross-entropy (the anchors SSD's classification loss sums),
        for the whole batch at once (:func:`.hard_negatives.hard_negative_mask`)."""
        ratio = self.train_cfg['neg_pos_ratio'] if neg_pos_ratio is None else neg_pos_ratio
        with torch.no_grad():
            ce = F.cross_entropy(cls_scores.detach().flatten(0, 1), labels.flatten(),
                                 reduction='none').view_as(labels) * label_weights
            pos = (labels >= 0) & (labels < self.num_classes)
            neg = labels == self.num_classes
            return hard_negative_mask(ce, pos, neg, ratio)

    def loss_by_feat(self, cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                     batch_gt_instances_ignore=None):
        """mmdet's SSD loss (per image: hard-negative-mined CE and smooth-L1 / #positives)."""
        t = self.flat_targets(cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                              batch_gt_instances_ignore)
        return self.loss_from_targets(t)

    def loss_from_targets(self, t: Dict[str, torch.Tensor]) -> Dict[str, list]:
        losses_cls, losses_bbox = multi_apply(
            self.loss_by_feat_single, t['cls_scores'], t['bbox_preds'], t['anchors'],
            t['labels'], t['label_weights'], t['bbox_targets'], t['bbox_weights'],
            avg_factor=t['avg_factor'])
        return dict(loss_cls=losses_cls, loss_bbox=losses_bbox)
