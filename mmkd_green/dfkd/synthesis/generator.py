"""CMI's image generator (a DCGAN-style decoder, Fang et al. IJCAI 2021, CIFAR setting).

    z (nz) ─Linear→ (2·ngf, s/4, s/4) ─BN─Up×2─Conv3x3─BN─LReLU(0.2)─Up×2─Conv3x3(→ngf)─BN─LReLU(0.2)
            ─Conv3x3(→nc)─Sigmoid → image in [0, 1]^(nc × s × s)

:meth:`reset_parameters` re-draws every weight (conv/linear ~ N(0, 0.02), BN scale ~ N(1, 0.02),
biases 0); CMI does this at the start of every synthesis round.
"""
import torch
import torch.nn as nn

from mmkd_green.registry import MODELS


@MODELS.register_module()
class DCGANGenerator(nn.Module):
    """Args:
        nz: latent size. ngf: base width. img_size: output side (divisible by 4). nc: channels.
    """

    def __init__(self, nz: int = 256, ngf: int = 64, img_size: int = 32, nc: int = 3):
        super().__init__()
        if img_size % 4:
            raise ValueError(f'DCGANGenerator: img_size must be divisible by 4, got {img_size}')
        self.nz, self.init_size = nz, img_size // 4
        self.fc = nn.Linear(nz, 2 * ngf * self.init_size ** 2)
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(2 * ngf),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * ngf, 2 * ngf, 3, 1, 1, bias=False),
            nn.BatchNorm2d(2 * ngf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * ngf, ngf, 3, 1, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ngf, nc, 3, 1, 1),
            nn.Sigmoid(),
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Re-draw every weight in place. Conv weights are drawn in NCHW order and copied in, so
        the same RNG state gives the same generator whatever its memory layout (an in-place
        ``normal_`` fills storage order, which differs for ``channels_last`` weights)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.empty_like(m.weight, memory_format=torch.contiguous_format)
                               .normal_(0.0, 0.02))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(z.shape[0], -1, self.init_size, self.init_size)
        return self.decoder(x)
