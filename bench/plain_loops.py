"""The training loops a user writes without fastgen, for ``bench_train_vs_plain``.

"plain" is each model's step the way pytorch/examples writes it (``dcgan/main.py``,
``vae/main.py``): eager PyTorch, torch's default (foreach) Adam, a sigmoid and ``nn.BCELoss`` on
the discriminator, the VAE's decoder through a sigmoid and ``F.binary_cross_entropy`` summed, and
``.item()`` of every printed number each step. The networks are fastgen's own, with the same
initial weights, as the plain ``torch.nn`` layers a user would have written: contiguous NCHW,
``ConvTranspose2d``/``Conv2d`` where fastgen computes its projections as GEMMs
(``fastgen.models.layers.to_plain_layers``).

"tuned" is the same plain code with the changes a careful user makes by hand: no per-step host
read, Adam's fused kernel, and the discriminator frozen in the generator's update (no weight
gradients nobody reads). The gap between plain and tuned is what any loop can get; the gap
between tuned and fastgen is what fastgen's layers, layout and kernels add.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fastgen.models import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder
from fastgen.models.layers import to_plain_layers

Step = Callable[[torch.Tensor], None]


def _sequential(network: nn.Module) -> nn.Module:
    """The network's layers without fastgen's forward (which converts inputs to channels_last)."""
    return network.net if hasattr(network, "net") else network


def _adam(params, lr: float, betas: tuple[float, float], tuned: bool) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True if tuned else None)


def adversarial_step(model: GAN | DCGAN | LSGAN, *, tuned: bool) -> Step:
    """pytorch/examples' dcgan/main.py step: D on real (label 1) and fake (label 0), then G."""
    generator = _sequential(to_plain_layers(model.generator))
    discriminator = _sequential(to_plain_layers(model.discriminator))
    opt_d = _adam(discriminator.parameters(), model.lr, model.betas, tuned)
    opt_g = _adam(generator.parameters(), model.lr, model.betas, tuned)
    least_squares = isinstance(model, LSGAN)
    a, b, c = (model.a, model.b, model.c) if least_squares else (0.0, 1.0, 1.0)
    criterion = nn.MSELoss() if least_squares else nn.BCELoss()
    images = model.images
    latent_shape = (1, 1) if isinstance(model.generator.net[0], nn.ConvTranspose2d) else ()

    def score(x: torch.Tensor) -> torch.Tensor:
        out = discriminator(x).view(-1)
        return out if least_squares else torch.sigmoid(out)

    def criterion_of(output: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        # MSELoss is the mean of (D - label)²; the LSGAN objective halves it (Mao et al., eq. 2)
        return 0.5 * criterion(output, label) if least_squares else criterion(output, label)

    def step(batch: torch.Tensor) -> None:
        real = batch * 2.0 - 1.0 if images else batch
        n = real.shape[0]
        discriminator.zero_grad()
        label = torch.full((n,), b, device=real.device)
        output = score(real)
        err_d_real = criterion_of(output, label)
        err_d_real.backward()
        noise = torch.randn(n, model.latent_dim, *latent_shape, device=real.device)
        fake = generator(noise)
        label.fill_(a)
        output = score(fake.detach())
        err_d_fake = criterion_of(output, label)
        err_d_fake.backward()
        opt_d.step()

        generator.zero_grad()
        label.fill_(c)
        if tuned:
            discriminator.requires_grad_(False)
        output = score(fake)
        err_g = criterion_of(output, label)
        err_g.backward()
        opt_g.step()
        if tuned:
            discriminator.requires_grad_(True)
        else:  # what the example prints every iteration
            (err_d_real + err_d_fake).item(), err_g.item(), output.mean().item()

    return step


def vae_step(model: VAE, *, tuned: bool) -> Step:
    """pytorch/examples' vae/main.py step: decoder through a sigmoid, summed BCE + KL, Adam."""
    encoder, decoder = to_plain_layers(model.encoder), to_plain_layers(model.decoder)
    optimizer = _adam([*encoder.parameters(), *decoder.parameters()], model.lr, (0.9, 0.999), tuned)

    def step(batch: torch.Tensor) -> None:
        optimizer.zero_grad()
        mu, logvar = encoder(batch).chunk(2, dim=1)
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        recon = torch.sigmoid(decoder(z))
        bce = F.binary_cross_entropy(recon, batch, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = bce + kld
        loss.backward()
        if not tuned:
            loss.item()
        optimizer.step()

    return step


def dae_step(model: DenoisingAutoencoder, *, tuned: bool) -> Step:
    """A tied-weight denoising autoencoder written out: mask, sigmoid encoder, Wᵀ decoder, SGD."""
    weight, hidden_bias, visible_bias = (p.detach().clone().requires_grad_() for p in model.parameters())
    optimizer = torch.optim.SGD([weight, hidden_bias, visible_bias], lr=model.lr)

    def step(batch: torch.Tensor) -> None:
        x = batch.reshape(batch.shape[0], -1)
        optimizer.zero_grad()
        keep = torch.rand_like(x) >= model.corruption
        h = torch.sigmoid((x * keep) @ weight + hidden_bias)
        logits = h @ weight.t() + visible_bias
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        loss.backward()
        optimizer.step()
        if not tuned:
            loss.item()

    return step


def plain_step(model: nn.Module, *, tuned: bool = False) -> Step:
    """The plain (or tuned) step of ``model``'s algorithm, on copies of its networks."""
    if isinstance(model, (GAN, DCGAN, LSGAN)):
        return adversarial_step(model, tuned=tuned)
    if isinstance(model, VAE):
        return vae_step(model, tuned=tuned)
    if isinstance(model, DenoisingAutoencoder):
        return dae_step(model, tuned=tuned)
    raise TypeError(f"no plain loop for {type(model).__name__}")
