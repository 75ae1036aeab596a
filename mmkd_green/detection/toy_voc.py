"""A small PASCAL-VOC-layout detection set of real files (JPEG, XML, ImageSets), made on the fly.

Pure numpy + PIL (no mmdet): used by the demo, the tests and the benchmark. Each image shows 1-3
shapes (``circle``, ``square``, ``triangle``) on a varied textured background (smoothed noise,
stripes, checkerboard or gradient, plus pixel noise). A class is a shape *and* a hue range
(circles reddish, squares greenish, triangles bluish; saturation and brightness random), which
keeps the set learnable by a from-scratch detector in a couple of CPU minutes. Layout::

    <root>/VOC2007/JPEGImages/000000.jpg
    <root>/VOC2007/Annotations/000000.xml        (VOC: 1-based inclusive pixel coordinates)
    <root>/VOC2007/ImageSets/Main/{trainval,test}.txt

The output depends only on the arguments (``seed`` included).
"""
import colorsys
import os
import os.path as osp
from typing import Dict, Sequence, Tuple
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TOY_CLASSES = ('circle', 'square', 'triangle')
CLASS_HUES = {'circle': 0.0, 'square': 1 / 3, 'triangle': 2 / 3}   # HSV hue centres


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    kind = rng.integers(4)
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == 0:    # smoothed colour noise
        small = rng.uniform(0, 255, (rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.uint8)
        img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float32)
    else:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        if kind == 1:    # stripes at a random angle
            ang, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
            t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period)
        elif kind == 2:  # checkerboard
            cell = rng.integers(6, 20)
            t = ((xx // cell + yy // cell) % 2).astype(np.float32)
        else:            # linear gradient
            ang = rng.uniform(0, 2 * np.pi)
            t = xx * np.cos(ang) + yy * np.sin(ang)
            t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    return img


def _class_colour(rng, cls: str) -> np.ndarray:
    hue = (CLASS_HUES[cls] + rng.uniform(-0.07, 0.07)) % 1.0
    sat, val = rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0)
    return np.asarray(colorsys.hsv_to_rgb(hue, sat, val), np.float32) * 255


def _shape_polygon(rng, cls: str, cx: float, cy: float, r: float):
    if cls == 'square':
        ang = rng.uniform(-0.35, 0.35) + np.pi / 4
        k = np.arange(4)
        return [(cx + r * np.cos(ang + k_ * np.pi / 2), cy + r * np.sin(ang + k_ * np.pi / 2))
                for k_ in k]
    if cls == 'triangle':
        ang = rng.uniform(0, 2 * np.pi)
        return [(cx + r * np.cos(ang + k * 2 * np.pi / 3), cy + r * np.sin(ang + k * 2 * np.pi / 3))
                for k in range(3)]
    return None


def _draw_object(rng, img: Image.Image, cls: str, box_hint) -> Tuple[int, int, int, int]:
    """Draw one shape; returns its tight 0-based inclusive box (x1, y1, x2, y2)."""
    w, h = img.size
    cx, cy, r = box_hint
    mask = Image.new('L', (w, h), 0)
    md = ImageDraw.Draw(mask)
    poly = _shape_polygon(rng, cls, cx, cy, r)
    if poly is None:   # circle (slightly elliptic)
        rx, ry = r * rng.uniform(0.85, 1.0), r * rng.uniform(0.85, 1.0)
        md.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    else:
        md.polygon(poly, fill=255)
    arr = np.asarray(img, np.float32)
    local = arr[mask_np := (np.asarray(mask) > 127)].mean(0)
    colour = _class_colour(rng, cls)
    for _ in range(20):   # keep a visible contrast with the background under the shape
        if np.abs(colour - local).sum() > 150:
            break
        colour = _class_colour(rng, cls)
    arr[mask_np] = colour
    img.paste(Image.fromarray(arr.clip(0, 255).astype(np.uint8)))
    ys, xs = np.nonzero(mask_np)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda t: (t[2] - t[0] + 1) * (t[3] - t[1] + 1)  # noqa: E731
    return inter / float(area(a) + area(b) - inter)


def _xml(filename: str, w: int, h: int, objects) -> str:
    objs = ''.join(
        f'\t<object>\n\t\t<name>{escape(name)}</name>\n\t\t<pose>Unspecified</pose>\n'
        f'\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n'
        f'\t\t\t<xmin>{x1 + 1}</xmin>\n\t\t\t<ymin>{y1 + 1}</ymin>\n'
        f'\t\t\t<xmax>{x2 + 1}</xmax>\n\t\t\t<ymax>{y2 + 1}</ymax>\n\t\t</bndbox>\n\t</object>\n'
        for name, (x1, y1, x2, y2) in objects)
    return (f'<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>{filename}</filename>\n'
            f'\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n'
            f'\t</size>\n\t<segmented>0</segmented>\n{objs}</annotation>\n')


def make_toy_image(rng: np.random.Generator, classes: Sequence[str], size_range=(112, 160),
                   obj_range=(1, 3), radius_range=(10, 30)):
    """One image (PIL) and its objects ``[(class name, (x1, y1, x2, y2)), ...]`` (0-based)."""
    w, h = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, 2))
    img = _background(rng, w, h)
    img += rng.normal(0, 6, img.shape)
    pil = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        pil = pil.filter(ImageFilter.GaussianBlur(0.8))
    objects = []
    for _ in range(int(rng.integers(obj_range[0], obj_range[1] + 1))):
        for _try in range(30):
            r = rng.uniform(*radius_range)
            r = min(r, (min(w, h) - 4) / 2)
            cx, cy = rng.uniform(r + 1, w - r - 2), rng.uniform(r + 1, h - r - 2)
            hint = (cx - r, cy - r, cx + r, cy + r)
            if all(_iou(hint, b) < 0.05 for _, b in objects):
                cls = classes[int(rng.integers(len(classes)))]
                objects.append((cls, _draw_object(rng, pil, cls, (cx, cy, r))))
                break
    arr = np.asarray(pil, np.float32) + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8)), objects


def make_toy_voc(root: str, num_trainval: int = 240, num_test: int = 80, seed: int = 0,
                 classes: Sequence[str] = TOY_CLASSES, size_range=(112, 160),
                 radius_range=(10, 30), year: str = 'VOC2007', jpeg_quality: int = 90
                 ) -> Dict[str, object]:
    """Write the set under ``<root>/<year>/`` and return a summary dict.

    ``num_trainval`` images go to ``trainval.txt``, the next ``num_test`` to ``test.txt``. Image
    sides are drawn from ``size_range`` (pixels), shape radii from ``radius_range``.
    """
    bad = [c for c in classes if c not in TOY_CLASSES]
    if bad:
        raise ValueError(f'make_toy_voc draws only {TOY_CLASSES}; unknown classes {bad}')
    if num_trainval < 1 or num_test < 0:
        raise ValueError(f'need num_trainval >= 1 and num_test >= 0, got {num_trainval}, {num_test}')
    base = osp.join(root, year)
    for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(base, sub), exist_ok=True)
    rng = np.random.default_rng(seed)
    ids, counts = [], {c: 0 for c in classes}
    for i in range(num_trainval + num_test):
        img_id = f'{i:06d}'
        img, objects = make_toy_image(rng, classes, size_range, radius_range=radius_range)
        img.save(osp.join(base, 'JPEGImages', img_id + '.jpg'), quality=jpeg_quality)
        with open(osp.join(base, 'Annotations', img_id + '.xml'), 'w') as f:
            f.write(_xml(img_id + '.jpg', img.size[0], img.size[1], objects))
        for name, _ in objects:
            counts[name] += 1
        ids.append(img_id)
    splits = {'trainval': ids[:num_trainval], 'test': ids[num_trainval:]}
    for split, split_ids in splits.items():
        with open(osp.join(base, 'ImageSets', 'Main', split + '.txt'), 'w') as f:
            f.write(''.join(s + '\n' for s in split_ids))
    return dict(root=osp.abspath(root), sub_root=year, classes=tuple(classes),
                num_trainval=num_trainval, num_test=num_test, objects=counts)
