"""The per-batch CIFAR augmentation: the same pixels as the per-sample transforms for the same
draws, the same statistics as the per-sample pipeline, reproducible from (seed, iteration)."""
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from scipy import stats
from torchvision.transforms import InterpolationMode

from mmkd_green.classification.datasets import ClsRandomCrop, ClsRandomFlip, ClsRandomRotate
from mmkd_green.classification.datasets.batch_augment import (BatchAugment, augment_batch,
                                                              draw_params)
from mmkd_green.classification.models import ClsDataPreprocessor


def _images(n=64, seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)


def _sequential(img, dy, dx, flip, angle, padding=4):
    """The per-sample transforms' operations (ClsRandomCrop -> ClsRandomFlip -> ClsRandomRotate)
    with the given draws."""
    h, w = img.shape[-2:]
    img = TF.pad(img, [padding] * 4, fill=0)[:, dy:dy + h, dx:dx + w]
    if flip:
        img = img.flip(-1)
    return TF.rotate(img, angle, interpolation=InterpolationMode.NEAREST, fill=0)


@pytest.mark.parametrize('rotate', [False, True])
def test_same_pixels_as_per_sample_transforms(rotate):
    imgs = _images()
    params = draw_params(seed=3, iteration=11, batch_size=len(imgs))
    if not rotate:
        params['angle'] = np.zeros(len(imgs))
    out = augment_batch(imgs, params)
    ref = torch.stack([_sequential(imgs[i], int(params['dy'][i]), int(params['dx'][i]),
                                   bool(params['flip'][i]), float(params['angle'][i]))
                       for i in range(len(imgs))]).float()
    assert out.dtype == torch.float32 and out.shape == imgs.shape
    assert torch.equal(out, ref)


def test_same_pixels_under_autocast():
    """Under ``--amp`` the preprocessor runs inside autocast, where ``affine_grid`` would build
    the rotation grid in bf16 and pick other nearest pixels; the augmentation opts out."""
    import torch.nn.functional as F
    imgs = _images()
    params = draw_params(seed=3, iteration=11, batch_size=len(imgs))
    fp32 = augment_batch(imgs, params)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        amp = augment_batch(imgs, params)
        theta = torch.eye(2, 3).repeat(2, 1, 1)                # autocast is really on here
        assert F.affine_grid(theta, [2, 3, 8, 8], align_corners=False).dtype == torch.bfloat16
    assert amp.dtype == torch.float32 and torch.equal(amp, fp32)


def test_draw_distributions():
    draws = [draw_params(0, it, 256) for it in range(40)]
    offs = np.concatenate([d['dy'] for d in draws] + [d['dx'] for d in draws])
    counts = np.bincount(offs, minlength=9)
    assert offs.min() == 0 and offs.max() == 8
    assert stats.chisquare(counts).pvalue > 1e-3
    flips = np.concatenate([d['flip'] for d in draws])
    assert abs(flips.mean() - 0.5) < 0.02
    angles = np.concatenate([d['angle'] for d in draws])
    assert stats.kstest(angles, stats.uniform(loc=-15, scale=30).cdf).pvalue > 1e-3


def test_statistics_match_the_per_sample_pipeline():
    """Zero-fill fraction, mean intensity and left-right asymmetry of the augmented images, per
    batch vs per sample (torch's RNG), agree within sampling noise."""
    imgs = _images(256, seed=1)
    imgs[:, :, :, :16] = 200        # left half bright: flips show up in the column means
    imgs[:, :, :, 16:] = 50
    torch.manual_seed(0)
    steps = [ClsRandomCrop(32, padding=4), ClsRandomFlip(0.5), ClsRandomRotate(15)]
    per_sample = []
    for img in imgs:
        r = dict(img=img)
        for t in steps:
            r = t(r)
        per_sample.append(r['img'])
    per_sample = torch.stack(per_sample).float()
    batched = BatchAugment(seed=0)(imgs, iteration=0)
    for stat in (lambda x: (x == 0).float().mean(dim=(1, 2, 3)),
                 lambda x: x.mean(dim=(1, 2, 3)),
                 lambda x: (x[..., :16].mean(dim=(1, 2, 3)) > x[..., 16:].mean(dim=(1, 2, 3)))
                 .float()):
        a, b = stat(per_sample).numpy(), stat(batched).numpy()
        assert stats.ks_2samp(a, b).pvalue > 1e-3, (a.mean(), b.mean())


def test_reproducible_from_seed_and_iteration():
    imgs = _images(8)
    aug = BatchAugment(seed=5)
    a, b = aug(imgs, 7), BatchAugment(seed=5)(imgs, 7)
    assert torch.equal(a, b)
    assert not torch.equal(a, aug(imgs, 8))
    assert not torch.equal(a, BatchAugment(seed=6)(imgs, 7))
    assert not torch.equal(a, aug(imgs, 7, rank=1))


def test_preprocessor_normalises_augments_in_training_only_and_is_channels_last():
    imgs = _images(4)
    mean, std = (10.0, 20.0, 30.0), (2.0, 4.0, 5.0)
    pre = ClsDataPreprocessor(mean=mean, std=std, channels_last=True,
                              batch_augment=dict(padding=4, seed=1))
    ev = pre(dict(inputs=imgs, data_samples=None), training=False)['inputs']
    expect = (imgs.float() - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)
    assert torch.allclose(ev, expect)
    assert ev.is_contiguous(memory_format=torch.channels_last)
    tr = pre(dict(inputs=list(imgs), data_samples=None), training=True)['inputs']
    assert not torch.allclose(tr, expect)
    raw = BatchAugment(padding=4, seed=1)(imgs, 0)      # outside a runner: iteration 0
    assert torch.allclose(tr, (raw - torch.tensor(mean).view(1, 3, 1, 1))
                          / torch.tensor(std).view(1, 3, 1, 1))
    with pytest.raises(ValueError, match='std > 0'):
        ClsDataPreprocessor(mean=mean, std=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match='degrees'):
        BatchAugment(degrees=-1)


def test_preprocessor_moves_images_only_and_predictions_come_back_once():
    """Only the images go to the device (``meta`` stands in for a GPU); labels stay on the host
    and reach the device as one tensor; predictions come back to the host per batch."""
    from mmengine.structures import BaseDataElement

    from mmkd_green.classification.models.classifier import pack_predictions, stack_labels
    samples = [BaseDataElement(gt_label=torch.tensor([i % 10])) for i in range(4)]
    pre = ClsDataPreprocessor(mean=(0., 0., 0.), std=(1., 1., 1.)).to('meta')
    out = pre(dict(inputs=_images(4), data_samples=samples), training=False)
    assert out['inputs'].device.type == 'meta'
    assert all(s.gt_label.device.type == 'cpu' for s in out['data_samples'])
    labels = stack_labels(out['data_samples'], torch.device('meta'))
    assert labels.device.type == 'meta' and labels.shape == (4,)
    logits = torch.tensor([[0.1, 2.0, 0.3], [3.0, 0.0, 0.1]])
    packed = pack_predictions(logits, None)
    assert [int(s.pred_label) for s in packed] == [1, 0]
    assert all(s.pred_score.device.type == 'cpu' and s.pred_label.dtype == torch.int64
               for s in packed)
    assert torch.allclose(packed[0].pred_score, logits[0].softmax(0))
