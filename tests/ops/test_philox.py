"""The Philox stream: bit-identical across backends, and statistically sound."""

import math

import pytest
import torch

import fastgen
from fastgen.ops import philox, philox_normal, philox_uniform
from tests.conftest import device_for

SEEDS = [0, 1, 123456789012, 2**63 - 1]
SEED = 123456789012
# Normals from different math libraries (log, cos, sin) differ by an ulp or two of float32;
# |n| < 6, so 4 ulp of 6.
NORMAL_ATOL = 4 * 6 * 2**-23


def _offsets(device, n=50_000):
    # Spans the 32-bit boundary so that the high counter word is exercised.
    base = torch.arange(n, dtype=torch.int64, device=device)
    return torch.cat([base, base + (2**32 - n // 2), base * 7919 + 2**40])


@pytest.mark.parametrize("seed", SEEDS)
def test_uniforms_bit_identical_to_reference(backend_name, seed):
    device = device_for(backend_name)
    offsets = _offsets(device)
    expected = philox.uniform(seed, offsets.cpu())
    got = philox_uniform(offsets, seed, backend=backend_name).cpu()
    assert torch.equal(got, expected)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_normals_agree_to_a_few_ulp(backend_name, seed):
    device = device_for(backend_name)
    offsets = _offsets(device, 20_000)
    expected = philox.normal(seed, offsets.cpu())
    got = philox_normal(offsets, seed, backend=backend_name).cpu()
    torch.testing.assert_close(got, expected, rtol=0, atol=NORMAL_ATOL)


def test_known_values_match_triton_definition():
    # Philox4x32-10 on counter (0, 0, 0, 0), key (0, 0): the Random123 known-answer vector.
    words = philox.philox4x32_10(0, torch.zeros(1, dtype=torch.int64))
    assert [int(w) for w in words] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


def test_each_counter_gives_four_consecutive_numbers():
    # The spec: number o is word o & 3 of the call on counter o >> 2; uniforms are its int32 map.
    counters = torch.tensor([0, 1, 2**32 - 1, 2**32, 2**61 + 12345])
    words = philox.philox4x32_10(SEED, counters)
    offsets = 4 * counters[:, None] + torch.arange(4)
    uniforms = philox.uniform(SEED, offsets)
    for lane in range(4):
        assert torch.equal(uniforms[:, lane], philox.uint_to_uniform(words[lane]))


def test_normals_are_box_muller_on_word_pairs():
    # Pair (0, 1) and pair (2, 3) of each counter: the even number is r cos(2 pi u2), the odd one
    # r sin(2 pi u2), computed here in float64 from the pair's uniforms.
    counters = torch.arange(5000)
    words = philox.philox4x32_10(SEED, counters)
    normals = philox.normal(SEED, 4 * counters[:, None] + torch.arange(4))
    for pair in range(2):
        u1 = philox.uint_to_uniform(words[2 * pair]).double().clamp_min(1.0e-7)
        u2 = philox.uint_to_uniform(words[2 * pair + 1]).double()
        radius, theta = torch.sqrt(-2 * torch.log(u1)), 2 * math.pi * u2
        expected = torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=1)
        # against float64: the float32 rounding of theta and of the result, within NORMAL_ATOL
        torch.testing.assert_close(normals[:, 2 * pair : 2 * pair + 2].double(), expected, rtol=0, atol=NORMAL_ATOL)


def test_stream_is_tritons_rand4x_and_randn4x():
    """Triton's own tl.rand4x / tl.randn4x on counter c give numbers 4c ... 4c + 3: the
    independent definition the spec follows (interpreted on the CPU, or on a GPU)."""
    pytest.importorskip("triton")
    from fastgen import backends

    if backends.unavailable_reason("triton") is not None:
        pytest.skip(backends.unavailable_reason("triton"))
    from tests.ops import triton_rand4x

    device = device_for("triton")
    counters = torch.cat([torch.arange(3000), torch.arange(2**32 - 100, 2**32 + 100)]).to(device)
    uniforms, normals = triton_rand4x.draw(counters, SEED)
    offsets = (4 * counters[:, None] + torch.arange(4, device=device)).cpu()
    assert torch.equal(uniforms.cpu(), philox.uniform(SEED, offsets))
    torch.testing.assert_close(normals.cpu(), philox.normal(SEED, offsets), rtol=0, atol=NORMAL_ATOL)


def _ks_statistic(samples: torch.Tensor, cdf) -> float:
    x, _ = torch.sort(samples.double())
    n = x.numel()
    f = cdf(x)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n - f
    lower = f - torch.arange(0, n, dtype=torch.float64) / n
    return max(upper.max().item(), lower.max().item())


def test_uniform_statistics():
    u = philox.uniform(42, torch.arange(200_000))
    assert u.min() >= 0 and u.max() < 1
    # mean 1/2 and variance 1/12, within 5 standard errors.
    n = u.numel()
    assert abs(u.double().mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.double().var().item() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    # Kolmogorov-Smirnov against U(0, 1): critical value at alpha = 0.001 is 1.95 / sqrt(n).
    assert _ks_statistic(u, lambda x: x) < 1.95 / math.sqrt(n)


def test_normal_statistics():
    z = philox.normal(7, torch.arange(200_000))
    n = z.numel()
    assert abs(z.double().mean().item()) < 5 / math.sqrt(n)
    assert abs(z.double().var().item() - 1) < 5 * math.sqrt(2 / n)
    normal_cdf = lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    assert _ks_statistic(z, normal_cdf) < 1.95 / math.sqrt(n)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1].item()


def test_no_correlation_between_neighbouring_offsets_or_seeds():
    n = 100_000
    offsets = torch.arange(n + 1)
    u = philox.uniform(3, offsets)
    bound = 5 / math.sqrt(n)  # five standard errors of a correlation coefficient
    assert abs(_correlation(u[:-1], u[1:])) < bound
    v = philox.uniform(4, offsets)
    assert abs(_correlation(u, v)) < bound


def test_seed_from_torch_generator_is_reproducible():
    torch.manual_seed(11)
    first = fastgen.ops.reparameterize(torch.zeros(3, 4), torch.zeros(3, 4))[0]
    seed = fastgen.ops.last_seed()
    torch.manual_seed(11)
    again = fastgen.ops.reparameterize(torch.zeros(3, 4), torch.zeros(3, 4))[0]
    assert torch.equal(first, again)
    replay = fastgen.ops.reparameterize(torch.zeros(3, 4), torch.zeros(3, 4), seed=seed)[0]
    assert torch.equal(first, replay)
