"""Numerics of the CPU kernels' own code paths: the Philox lane implementations (AVX-512, AVX2,
scalar) against each other, and the LSGAN loss reduction across its block and thread boundaries."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fastgen
from fastgen.ops import ls_discriminator_loss, ls_generator_loss, philox, philox_normal, philox_uniform

pytestmark = pytest.mark.skipif("cpp" not in fastgen.available_backends(), reason="fastgen._C is not built")

SEED = 123456789012
# Runs that start inside a counter (offset 3: its last word) and off a pair boundary, end in
# partial vectors and partial counters, and cross offset 2**34, where the counter (offset >> 2)
# passes 2**32: its high word changes inside a run and the scalar code takes over.
OFFSETS = torch.cat(
    [
        torch.arange(3, 3 + 1000),
        torch.arange(2**32 - 601, 2**32 + 600),
        torch.arange(2**34 - 602, 2**34 + 599),
        torch.arange(2**40 + 5, 2**40 + 5 + 257),
    ]
)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _draw_with_lanes(lanes: str, tmp_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """philox_uniform and philox_normal of OFFSETS in a fresh process whose Philox lanes are capped."""
    out = tmp_path / f"{lanes}.pt"
    script = (
        "import sys, torch\n"
        "from fastgen.ops import philox_normal, philox_uniform\n"
        "offsets = torch.load(sys.argv[1])\n"
        f"torch.save((philox_uniform(offsets, {SEED}, backend='cpp'), philox_normal(offsets, {SEED}, backend='cpp')),"
        " sys.argv[2])\n"
    )
    torch.save(OFFSETS, tmp_path / "offsets.pt")
    package_root = str(Path(fastgen.__file__).resolve().parent.parent)
    env = {**os.environ, "FASTGEN_CPU_LANES": lanes, "PYTHONPATH": package_root, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "offsets.pt"), str(out)], env=env, check=True, timeout=300
    )
    return torch.load(out)


@pytest.mark.parametrize("lanes", ["avx2", "none"])
def test_every_lane_width_draws_the_same_numbers(lanes, tmp_path):
    if lanes == "avx2" and "avx2" not in _cpu_flags():
        pytest.skip("this CPU has no AVX2")
    uniform, normal = _draw_with_lanes(lanes, tmp_path)
    # Uniforms: bit-identical to the reference whatever the lane width. Normals: the same
    # Box-Muller code runs on the same uniforms, so bit-identical to this process's too.
    assert torch.equal(uniform, philox.uniform(SEED, OFFSETS))
    assert torch.equal(uniform, philox_uniform(OFFSETS, SEED, backend="cpp"))
    assert torch.equal(normal, philox_normal(OFFSETS, SEED, backend="cpp"))


# Sizes around the reduction's block (4096 scores) and its threading threshold (65536).
SIZES = [1, 15, 4095, 4097, 65536, 65537, 2**20 + 3]


@pytest.mark.parametrize("n", SIZES)
def test_ls_losses_reduce_accurately_across_blocks_and_threads(n):
    generator = torch.Generator().manual_seed(n)
    d_real = torch.randn(n, generator=generator, dtype=torch.float64)
    d_fake = torch.randn(n, generator=generator, dtype=torch.float64)
    a, b, c = -1.0, 1.0, 0.0
    real, fake = d_real.float().requires_grad_(), d_fake.float().requires_grad_()
    loss_d = ls_discriminator_loss(real, fake, a, b, backend="cpp")
    (grad_real, grad_fake) = torch.autograd.grad(loss_d, (real, fake))
    loss_g = ls_generator_loss(fake, c, backend="cpp")
    (grad_fake_g,) = torch.autograd.grad(loss_g, fake)

    # float64 from the same float32 scores.
    r, f = real.detach().double(), fake.detach().double()
    want_d = 0.5 * ((r - b) ** 2).mean() + 0.5 * ((f - a) ** 2).mean()
    want_g = 0.5 * ((f - c) ** 2).mean()
    # Each float32 partial sum adds at most 256 positive terms (16 partials per block of 4096):
    # relative error at most 256 * 2**-24; blocks are summed in double.
    torch.testing.assert_close(loss_d.double(), want_d, rtol=256 * 2**-24, atol=0)
    torch.testing.assert_close(loss_g.double(), want_g, rtol=256 * 2**-24, atol=0)
    # Gradients (d - t) / count: three float32 roundings (difference, 1 / count, product).
    for got, want in ((grad_real, (r - b) / n), (grad_fake, (f - a) / n), (grad_fake_g, (f - c) / n)):
        torch.testing.assert_close(got.double(), want, rtol=3 * 2**-24, atol=0)
