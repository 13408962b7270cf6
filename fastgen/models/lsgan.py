"""Least-squares GAN (Mao, Li, Xie, Lau, Wang & Smolley, "Least Squares Generative Adversarial
Networks", ICCV 2017, eq. 2):

    min_D  L_D = ½ E_x[(D(x) - b)²] + ½ E_z[(D(G(z)) - a)²]
    min_G  L_G = ½ E_z[(D(G(z)) - c)²]

D has a linear output. Label presets: ``"pearson"`` (a, b, c) = (-1, 1, 0), where b − c = 1 and
b − a = 2 make 2·C(G) at the optimal D equal the Pearson χ²(p_data + p_g ‖ 2 p_g) (§3.2; checked
numerically in tests/models/test_lsgan_theory.py, see docs/theory.md), and ``"binary"``
(0, 1, 1), which makes G generate samples as real as possible (eq. 9). Both losses run through
the fused ``fastgen.ops.ls_discriminator_loss`` / ``ls_generator_loss``.
"""

from __future__ import annotations

from fastgen import ops
from fastgen.models.dcgan import DCGANDiscriminator, DCGANGenerator
from fastgen.models.gan import Adversarial, MLPDiscriminator, MLPGenerator

__all__ = ["LABEL_PRESETS", "LSGAN"]

LABEL_PRESETS = {"pearson": (-1.0, 1.0, 0.0), "binary": (0.0, 1.0, 1.0)}
ARCHITECTURES = ("mlp", "dcgan")


class LSGAN(Adversarial):
    """LSGAN with MLP or DCGAN-style networks.

    Args:
        data_shape: ``(C, H, W)`` images in [0, 1] (H = W ∈ {28, 32, 64} for ``arch="dcgan"``) or
            ``(D,)`` points (``arch="mlp"`` only).
        labels: a preset name (``"pearson"``, ``"binary"``) or explicit ``(a, b, c)``.
        arch: ``"mlp"`` (hidden, layers as in ``GAN``) or ``"dcgan"`` (width as in ``DCGAN``).
        lr, betas: Adam's settings (the paper uses 2e-4 and β₁ = 0.5).

    The LS losses run fastgen's fused ops, on the backend ``fastgen.backend`` selects.
    """

    def __init__(
        self,
        data_shape=(1, 28, 28),
        latent_dim: int = 64,
        *,
        labels="pearson",
        arch: str = "mlp",
        hidden: int = 256,
        layers: int = 2,
        width: int = 64,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
    ):
        super().__init__(data_shape, latent_dim, lr, betas)
        if isinstance(labels, str):
            if labels not in LABEL_PRESETS:
                raise ValueError(f"labels must be one of {sorted(LABEL_PRESETS)} or (a, b, c), got {labels!r}")
            labels = LABEL_PRESETS[labels]
        if len(labels) != 3:
            raise ValueError(f"labels must be (a, b, c), got {labels!r}")
        self.a, self.b, self.c = (float(v) for v in labels)
        if arch == "mlp":
            self.generator = MLPGenerator(latent_dim, self.data_shape, hidden, layers)
            self.discriminator = MLPDiscriminator(self.data_shape, hidden, layers)
        elif arch == "dcgan":
            if not self.images or self.data_shape[1] != self.data_shape[2]:
                raise ValueError(f"arch='dcgan' needs square images (C, S, S), got data_shape={self.data_shape}")
            channels, size = self.data_shape[0], self.data_shape[1]
            self.generator = DCGANGenerator(latent_dim, channels, size, width)
            self.discriminator = DCGANDiscriminator(channels, size, width)
        else:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
        self.arch = arch

    def discriminator_loss(self, scores_real, scores_fake):
        return ops.ls_discriminator_loss(scores_real, scores_fake, self.a, self.b)

    def generator_loss(self, scores_fake):
        return ops.ls_generator_loss(scores_fake, self.c)
