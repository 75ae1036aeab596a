"""Small real models and data for the data-free KD tests (imported by conftest and tests).

``toy_data``: generated 16x16 RGB images of 4 classes (a class colour plus pixel noise and a
random brightness), standing in for a real dataset when ../shared is absent. ``toy_teacher``: a
small CNN with BatchNorm trained on them once per session (≈ 100 % test accuracy).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmkd_green  # noqa: F401
from mmkd_green.registry import MODELS

NUM_CLASSES, SIZE = 4, 16
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
COLORS = torch.tensor([[0.85, 0.2, 0.2], [0.2, 0.85, 0.2], [0.2, 0.2, 0.85], [0.85, 0.85, 0.2]])


@MODELS.register_module(force=True)
class TinyBNNet(nn.Module):
    """conv3x3-BN-ReLU ×3 (the last two with stride 2), global pooling, linear."""

    def __init__(self, num_classes=NUM_CLASSES, width=8):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(2 * w, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


def make_toy(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    brightness = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)
    x = COLORS[y][:, :, None, None] * brightness + 0.12 * torch.randn(n, 3, SIZE, SIZE, generator=g)
    return x.clamp(0, 1), y


def normalize(x):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def accuracy(model, images01, labels):
    model.eval()
    with torch.no_grad():
        return float((model(normalize(images01)).argmax(1) == labels).float().mean())


def train_classifier(model, x01, y, steps, lr=0.05, batch=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, x01.shape[0], (batch,), generator=g)
        xb = x01[idx]
        if torch.rand(1, generator=g) < 0.5:
            xb = xb.flip(3)
        loss = F.cross_entropy(model(normalize(xb)), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


