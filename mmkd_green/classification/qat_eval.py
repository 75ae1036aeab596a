"""Evaluate a QAT run after training: fake-quant float model vs the converted int8 model.

Both are scored with :class:`ClassificationMetric` on the same validation batches; sizes are the
bytes of each model's serialized ``state_dict`` (float32 weights vs packed int8 weights).
"""
import io
import os.path as osp
from typing import Callable, Optional

import torch
import torch.nn as nn

from .metrics import ClassificationMetric


def state_dict_bytes(module: nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.tell()


@torch.no_grad()
def evaluate_logits_fn(logits_fn: Callable, dataloader, preprocessor: nn.Module,
                       num_classes: int, max_batches: Optional[int] = None) -> dict:
    """Metrics of ``logits_fn(normalised inputs)`` over ``dataloader`` (CPU)."""
    metric = ClassificationMetric(num_classes=num_classes, save_confusion_matrix=False)
    metric.dataset_meta = getattr(dataloader.dataset, 'metainfo', None)
    for i, batch in enumerate(dataloader):
        if max_batches is not None and i >= max_batches:
            break
        data = preprocessor(batch, False)
        logits = logits_fn(data['inputs'].cpu())
        preds = logits.argmax(1)
        metric.process(batch, [dict(gt_label=s.gt_label, pred_label=p)
                               for s, p in zip(data['data_samples'], preds)])
    return metric.evaluate(len(metric.results))


def summarize_qat(model, dataloader, work_dir: str, max_batches: Optional[int] = None) -> dict:
    """Convert a :class:`QATClassifier` to int8, score both versions, save the int8 weights."""
    model = model.cpu().eval()
    int8 = model.convert()
    pre = model.data_preprocessor
    out = dict(
        fake_quant=evaluate_logits_fn(lambda x: model(x, mode='tensor'), dataloader, pre,
                                      model.num_classes, max_batches),
        int8=evaluate_logits_fn(int8, dataloader, pre, model.num_classes, max_batches),
        float_state_dict_bytes=sum(p.numel() * 4 for p in model.backbone.parameters()),
        int8_state_dict_bytes=state_dict_bytes(int8),
        backend=model.backend)
    path = osp.join(work_dir, 'int8_state_dict.pth')
    torch.save(int8.state_dict(), path)
    out['int8_state_dict'] = path
    return out
