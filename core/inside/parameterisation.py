"""How a visualised image is parameterised: plain pixels, or a scaled Fourier spectrum
with decorrelated colour (Olah et al. 2017, "Feature Visualization",
https://distill.pub/2017/feature-visualization/, section "Preconditioning and
Parameterization"; Mordvintsev et al. 2018, https://distill.pub/2018/differentiable-parameterizations/).

Written here, not taken from a library: Lucid (TensorFlow) is archived and its PyTorch
port Lucent is unmaintained since 2021 (it needs kornia <= 0.4.1); the transform is a
few lines of ``torch.fft``. Both classes turn their parameter into pixels in [0, 1],
``(B, C, H, W)``, and can start from a given image (the inverse map).
"""

from __future__ import annotations

import math

import torch

# Lucid's colour correlation of ImageNet (square root of the colour covariance, from its
# SVD), each column scaled so that the largest has norm 1: decorrelated coordinates ->
# RGB. https://github.com/tensorflow/lucid/blob/master/lucid/optvis/param/color.py
COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()
FOURIER_SD = 0.01  # Lucid's standard deviation of the initial spectrum
FOURIER_MAGIC = 4.0  # Lucid's divisor of the inverse transform (less saturation)
PIXEL_EPS = 0.01  # starting images are clipped to [eps, 1 - eps] before the logit


class PixelImage:
    """The image is its own parameter; it is kept in [0, 1] by clamping after each step
    (projected gradient ascent, as in Erhan et al. 2009 and Simonyan et al. 2013).

    Args:
        start: ``(B, C, H, W)`` in [0, 1] (noise or a given image).
    """

    def __init__(self, start: torch.Tensor) -> None:
        self.param = start.detach().clone().requires_grad_(True)  # (B, C, H, W)

    def image(self) -> torch.Tensor:
        """The pixels, ``(B, C, H, W)`` in [0, 1], differentiable in :attr:`param`."""
        return self.param

    @torch.no_grad()
    def project(self) -> None:
        """Back into [0, 1] after an optimiser step."""
        self.param.clamp_(0, 1)

    @torch.no_grad()
    def blur(self, sigma: float) -> None:
        """Gaussian blur of the image in place (Yosinski et al. 2015)."""
        from torchvision.transforms.v2.functional import gaussian_blur

        size = 2 * math.ceil(3 * sigma) + 1
        blurred = gaussian_blur(self.param, [size, size], [sigma, sigma])
        self.param.copy_(blurred)


def frequencies(height: int, width: int) -> torch.Tensor:
    """``|f|`` in cycles per pixel of each coefficient of ``torch.fft.rfft2``:
    ``(height, width // 2 + 1)``."""
    fy = torch.fft.fftfreq(height).view(-1, 1)  # (H, 1)
    fx = torch.fft.rfftfreq(width).view(1, -1)  # (1, W // 2 + 1)
    return (fy.square() + fx.square()).sqrt()


class FourierImage:
    """The image as a Fourier spectrum scaled by 1 / |f| (so every frequency is as easy to
    change as every other: natural images' spectra fall as 1 / |f|), optionally in
    decorrelated colour, squashed into [0, 1] by a sigmoid.

    ``pixels = sigmoid(M @ irfft2(scale * spectrum) / 4 + logit(mean))``, with M the
    colour correlation (3 channels and ``decorrelate``) or the identity.

    Args:
        shape: ``(B, C, H, W)``.
        generator: The random source of the initial spectrum.
        decorrelate: Use Lucid's colour correlation (3 channels only).
        start: ``(B, C, H, W)`` in [0, 1] to start from instead of noise (inverted
            exactly, after clipping to [0.01, 0.99]).
        mean: The pixel value of a zero spectrum (0.5 in Lucid; lower for dark
            backgrounds such as MNIST's): a constant ``logit(mean)`` is added before
            the sigmoid.
    """

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        generator: torch.Generator,
        decorrelate: bool = True,
        start: torch.Tensor | None = None,
        mean: float = 0.5,
    ) -> None:
        batch, channels, height, width = shape
        self.offset = math.log(mean / (1 - mean))
        self.size = (height, width)
        freqs = frequencies(height, width)  # (H, W // 2 + 1)
        self.freqs = freqs
        self.scale = 1.0 / freqs.clamp(min=1.0 / max(height, width))  # (H, W // 2 + 1)
        self.colour = COLOR_CORRELATION if decorrelate and channels == 3 else None
        if start is None:
            # (B, C, H, W // 2 + 1, 2): real and imaginary parts
            spectrum = torch.randn(*shape[:2], *freqs.shape, 2, generator=generator) * FOURIER_SD
        else:
            spectrum = self._invert(start)
        self.param = spectrum.requires_grad_(True)

    def _spatial(self) -> torch.Tensor:
        """The decorrelated, unsquashed image ``(B, C, H, W)``."""
        spectrum = torch.view_as_complex(self.param) * self.scale
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / FOURIER_MAGIC

    def image(self) -> torch.Tensor:
        """The pixels, ``(B, C, H, W)`` in (0, 1), differentiable in :attr:`param`."""
        spatial = self._spatial()
        if self.colour is not None:  # channel mixing: (B, H, W, 3) @ (3, 3)
            spatial = (spatial.permute(0, 2, 3, 1) @ self.colour.T).permute(0, 3, 1, 2)
        return torch.sigmoid(spatial + self.offset)

    def _invert(self, pixels: torch.Tensor) -> torch.Tensor:
        """The spectrum parameter whose :meth:`image` is ``pixels`` (clipped)."""
        spatial = torch.logit(pixels.clamp(PIXEL_EPS, 1 - PIXEL_EPS)) - self.offset
        if self.colour is not None:
            inverse = torch.linalg.inv(self.colour.T)
            spatial = (spatial.permute(0, 2, 3, 1) @ inverse).permute(0, 3, 1, 2)
        spectrum = torch.fft.rfft2(spatial * FOURIER_MAGIC, norm="ortho") / self.scale
        return torch.view_as_real(spectrum).contiguous()

    def project(self) -> None:
        """Nothing to do: the sigmoid keeps every pixel in (0, 1)."""

    @torch.no_grad()
    def blur(self, sigma: float) -> None:
        """Gaussian blur of the (unsquashed) image, as a product in frequency space:
        the transfer function of a Gaussian is ``exp(-2 pi^2 sigma^2 |f|^2)`` (a circular
        blur: the image wraps around at its borders)."""
        transfer = torch.exp(-2 * math.pi**2 * sigma**2 * self.freqs.square())
        self.param.mul_(transfer.unsqueeze(-1))
