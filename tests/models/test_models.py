"""The models against plain PyTorch formulas: shapes, losses, ELBO, and fused vs reference ops."""

import copy

import pytest
import torch
import torch.nn.functional as F

import fastgen
from fastgen import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder
from fastgen.models.gan import bce_discriminator_loss, bce_generator_loss
from fastgen.ops import last_seed
from fastgen.ops.reference.corrupt_encode import keep_mask

# float32 losses of a few hundred terms: summation order differs between our code and the plain
# formula, so values agree to a few ulp of the sum (rtol 1e-5), gradients likewise.
RTOL, ATOL = 1e-5, 1e-5


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    model = DCGAN(image_size=size, channels=channels, latent_dim=16, width=4)
    images = model.generator(torch.randn(5, 16))
    assert images.shape == (5, channels, size, size)
    assert images.abs().max() <= 1.0  # tanh output
    assert model.discriminator(images).shape == (5,)
    assert model.sample(3).shape == (3, channels, size, size)


def test_dcgan_follows_the_paper():
    model = DCGAN(width=16)
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
    optimizer = model.make_optimizers()["generator"]
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["lr"] == 2e-4 and optimizer.defaults["betas"] == (0.5, 0.999)
    kinds = {type(m) for m in model.discriminator.modules()}
    assert torch.nn.LeakyReLU in kinds and torch.nn.BatchNorm2d in kinds and torch.nn.Linear not in kinds
    assert model.discriminator.net[1].negative_slope == 0.2


@pytest.mark.parametrize("bad", [{"image_size": 48}, {"channels": 2}])
def test_dcgan_rejects_unsupported_shapes(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DCGAN(**bad)


def test_gan_losses_equal_bce_formulas():
    torch.manual_seed(0)
    real, fake = torch.randn(50) * 3, torch.randn(50) * 3
    ones, zeros = torch.ones(50), torch.zeros(50)
    expected_d = F.binary_cross_entropy_with_logits(real, ones) + F.binary_cross_entropy_with_logits(fake, zeros)
    torch.testing.assert_close(bce_discriminator_loss(real, fake), expected_d, rtol=RTOL, atol=ATOL)
    # non-saturating: -E log D(G(z)); saturating: E log(1 - D(G(z)))
    torch.testing.assert_close(bce_generator_loss(fake), -torch.log(torch.sigmoid(fake)).mean(), rtol=RTOL, atol=ATOL)
    saturating = torch.log(1 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(bce_generator_loss(fake, saturating=True), saturating, rtol=RTOL, atol=ATOL)


def test_gan_on_points_and_images():
    assert GAN((2,), latent_dim=4, hidden=8).sample(7).shape == (7, 2)
    images = GAN((1, 28, 28), latent_dim=4, hidden=8).sample(7)
    assert images.shape == (7, 1, 28, 28) and images.min() >= 0 and images.max() <= 1


LABEL_CASES = [("pearson", (-1, 1, 0)), ("binary", (0, 1, 1)), ((0.5, 2, 3), (0.5, 2, 3))]


@pytest.mark.parametrize(("labels", "abc"), LABEL_CASES)
def test_lsgan_losses_equal_least_squares(labels, abc):
    a, b, c = abc
    model = LSGAN((2,), latent_dim=4, hidden=8, labels=labels)
    real, fake = torch.randn(40), torch.randn(40)
    expected_d = 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - a) ** 2).mean()
    torch.testing.assert_close(model.discriminator_loss(real, fake), expected_d, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(model.generator_loss(fake), 0.5 * ((fake - c) ** 2).mean(), rtol=RTOL, atol=ATOL)


def test_lsgan_architectures():
    model = LSGAN((1, 32, 32), latent_dim=8, arch="dcgan", width=4)
    assert model.sample(2).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="arch"):
        LSGAN((2,), arch="dcgan")
    with pytest.raises(ValueError, match="labels"):
        LSGAN((2,), labels="chi")


@pytest.mark.parametrize("backend", [None, "torch"])
def test_dae_loss_equals_cross_entropy_on_the_same_mask(backend):
    torch.manual_seed(0)
    model = DenoisingAutoencoder(30, 7, corruption=0.4)
    x = torch.rand(11, 30)
    with fastgen.backend(backend or "auto"):
        loss = model.loss(x)
    keep = keep_mask(x, 0.4, last_seed())
    assert 0.45 < keep.float().mean() < 0.75  # about 60% of the inputs survive
    h = torch.sigmoid((x * keep) @ model.weight + model.hidden_bias)
    logits = h @ model.weight.T + model.visible_bias
    expected = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 11
    # also -sum[x log x̂ + (1 - x) log(1 - x̂)] written out
    x_hat = torch.sigmoid(logits)
    written_out = -(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum() / 11
    torch.testing.assert_close(loss, expected, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(loss, written_out, rtol=1e-4, atol=1e-4)
    grad = torch.autograd.grad(loss, model.weight)[0]
    torch.testing.assert_close(grad, torch.autograd.grad(expected, model.weight)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("noise", ["gaussian", "salt_and_pepper"])
def test_dae_other_corruptions(noise):
    torch.manual_seed(0)
    model = DenoisingAutoencoder(1000, 5, corruption=0.25, noise=noise)
    x = torch.full((20, 1000), 0.5)
    x_tilde = model.corrupt(x)
    if noise == "gaussian":
        assert abs((x_tilde - x).std().item() - 0.25) < 0.01
    else:
        changed = x_tilde != x
        assert abs(changed.float().mean().item() - 0.25) < 0.01
        assert set(x_tilde[changed].unique().tolist()) == {0.0, 1.0}


def test_dae_uses_plain_sgd_and_checks_arguments():
    model = DenoisingAutoencoder(10, 3)
    assert type(model.make_optimizers()["autoencoder"]) is torch.optim.SGD
    with pytest.raises(ValueError, match="corruption"):
        DenoisingAutoencoder(10, 3, corruption=1.0)
    with pytest.raises(ValueError, match="noise"):
        DenoisingAutoencoder(10, 3, noise="dropout")
    with pytest.raises(ValueError, match="n_visible=10"):
        model.loss(torch.rand(2, 11))


class PlainVAE(torch.nn.Module):
    """The textbook VAE in plain PyTorch, sharing the fastgen VAE's weights."""

    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def elbo(self, x, eps):
        mu, logvar = self.vae.encoder(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        out = self.vae.decoder(z)
        if self.vae.likelihood == "bernoulli":
            log_px = -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        else:
            normal = torch.distributions.Normal(out, self.vae.log_scale.exp())
            log_px = normal.log_prob(x).flatten(1).sum(1)
        return log_px - kl


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("backend", [None, "torch"])
def test_vae_elbo_equals_plain_pytorch(arch, likelihood, backend):
    torch.manual_seed(0)
    model = VAE((1, 12, 12), latent_dim=3, hidden=16, arch=arch, likelihood=likelihood)
    if model.log_scale is not None:
        model.log_scale.data.fill_(-1.3)
    x, eps = torch.rand(6, 1, 12, 12), torch.randn(6, 3)
    with fastgen.backend(backend or "auto"):
        elbo = model.elbo(x, eps)["elbo"]
    expected = PlainVAE(model).elbo(x, eps)
    torch.testing.assert_close(elbo, expected, rtol=RTOL, atol=1e-4)
    grads = torch.autograd.grad(elbo.sum(), list(model.parameters()))
    expected_grads = torch.autograd.grad(expected.sum(), list(model.parameters()))
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def _tiny_models():
    return {
        "dae": (lambda: DenoisingAutoencoder(64, 16), (1, 8, 8)),
        "gan": (lambda: GAN((2,), latent_dim=4, hidden=16), (2,)),
        "lsgan": (lambda: LSGAN((1, 28, 28), latent_dim=8, arch="dcgan", width=4), (1, 28, 28)),
        "dcgan": (lambda: DCGAN(28, 1, latent_dim=8, width=4), (1, 28, 28)),
        "vae": (lambda: VAE((1, 8, 8), latent_dim=4, hidden=16), (1, 8, 8)),
    }


@pytest.mark.parametrize("name", list(_tiny_models()))
def test_fused_and_reference_ops_give_the_same_training(name):
    """Three steps of the same model on the auto (fused) backend and on the reference ops.

    Float32; the compiled kernels sum in another order than the reference, so parameters after a
    few steps agree to about 1e-5 relative, not bit for bit.
    """
    build, shape = _tiny_models()[name]
    torch.manual_seed(0)
    fused = build()
    reference = copy.deepcopy(fused)
    data = torch.rand(3, 16, *shape)
    results = []
    for model, backend in ((fused, "auto"), (reference, "torch")):
        torch.manual_seed(1)
        optimizers = model.make_optimizers()
        with fastgen.backend(backend):
            results.append([model.training_step(batch, optimizers) for batch in data])
    for got, want in zip(*results, strict=True):
        for key in got:
            assert float(got[key]) == pytest.approx(float(want[key]), rel=1e-4, abs=1e-5)
    for (key, got), want in zip(fused.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=key)
