"""Philox4x32-10 in pure PyTorch: the reference backend's random numbers.

Implements exactly the stream of ``csrc/common/philox.h``, which is Triton's ``tl.randint4x`` /
``tl.rand4x`` / ``tl.randn4x`` with every output word used (Salmon et al., "Parallel random
numbers: as easy as 1, 2, 3", SC 2011): key = 64-bit seed, ten rounds, and element ``o`` of the
stream is word ``o & 3`` of the call on counter ``c = o >> 2`` = (c_lo, c_hi, 0, 0). uint32 words
are held in int64 tensors; products of two words are split in 16-bit halves so that nothing
overflows int64.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF
_ROUND_A, _ROUND_B = 0xD2511F53, 0xCD9E8D57
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85
_UNIFORM_SCALE = 4.6566127342e-10  # Triton's scale: the largest int32 maps just below 1.0
_TWO_PI = 6.283185307179586
SEED_MAX = 2**63 - 1


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in [0, 2**63 - 1], got {seed}")
    return seed


def draw_seed(generator: torch.Generator | None = None) -> int:
    """A fresh seed from torch's generator, so that torch.manual_seed fixes fastgen's noise too."""
    return int(torch.randint(0, 2**62, (), generator=generator).item())


def draw_key(device: torch.device) -> torch.Tensor:
    """A call's (seed, base) drawn on ``device`` by torch's generator of that device, as two int64:
    what the Triton kernels and the reference use on a GPU when no seed is given. No host read, and
    torch.randint is graph-safe: a CUDA graph captured around it draws a new pair at every replay."""
    return torch.randint(0, 2**62, (2,), device=device)


def _mul_const(word: torch.Tensor, const: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hi, lo) 32-bit halves of word * const for uint32 word (int64 tensor) and constant."""
    const_hi, const_lo = const >> 16, const & 0xFFFF
    high_part = word * const_hi  # < 2**48
    low_part = word * const_lo  # < 2**48
    hi = (high_part + (low_part >> 16)) >> 16
    lo = (((high_part & 0xFFFF) << 16) + low_part) & _MASK32
    return hi, lo


def philox4x32_10(seed: int | torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The four uint32 words (as int64 tensors) of Philox(seed, offsets); ``seed`` an int, or a
    0-d int64 tensor on the device of ``offsets`` (a key drawn there, see ``draw_key``)."""
    if not isinstance(seed, torch.Tensor):
        seed = check_seed(seed)
    offsets = offsets.to(torch.int64)
    k0, k1 = seed & _MASK32, (seed >> 32) & _MASK32
    c0 = offsets & _MASK32
    c1 = (offsets >> 32) & _MASK32
    c2 = torch.zeros_like(c0)
    c3 = torch.zeros_like(c0)
    for _ in range(10):
        hi_b, lo_b = _mul_const(c2, _ROUND_B)
        hi_a, lo_a = _mul_const(c0, _ROUND_A)
        c0, c1, c2, c3 = hi_b ^ c1 ^ k0, lo_b, hi_a ^ c3 ^ k1, lo_a
        k0 = (k0 + _KEY_A) & _MASK32
        k1 = (k1 + _KEY_B) & _MASK32
    return c0, c1, c2, c3


def uint_to_uniform(word: torch.Tensor) -> torch.Tensor:
    """Triton's uint_to_uniform_float: int32(word) -> [0, 1) in float32."""
    signed = torch.where(word >= 2**31, word - 2**32, word)
    signed = torch.where(signed < 0, -signed - 1, signed)
    return signed.to(torch.float32) * torch.tensor(_UNIFORM_SCALE, dtype=torch.float32)


def _counters_and_lanes(offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Philox counter (offset >> 2, a logical shift of the uint64 offset) and word of each offset."""
    offsets = offsets.to(torch.int64)
    return (offsets >> 2) & (2**62 - 1), offsets & 3


def uniform(seed: int | torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """U[0, 1) float32 numbers: element o is tl.rand4x(seed, o >> 2)[o & 3], bit for bit."""
    counters, lanes = _counters_and_lanes(offsets)
    words = torch.stack(philox4x32_10(seed, counters))
    return uint_to_uniform(words.gather(0, lanes.unsqueeze(0)).squeeze(0))


def normal(seed: int | torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """N(0, 1) float32 numbers: element o is tl.randn4x(seed, o >> 2)[o & 3], Box-Muller on the
    word pair (0, 1) or (2, 3), the pair's cosine for even o and its sine for odd o."""
    counters, lanes = _counters_and_lanes(offsets)
    x, y, z, w = philox4x32_10(seed, counters)
    second_pair = lanes >= 2
    u1 = torch.clamp_min(uint_to_uniform(torch.where(second_pair, z, x)), 1.0e-7)
    u2 = uint_to_uniform(torch.where(second_pair, w, y))
    theta = torch.tensor(_TWO_PI, dtype=torch.float32) * u2
    radius = torch.sqrt(-2.0 * torch.log(u1))
    return radius * torch.where(lanes % 2 == 1, torch.sin(theta), torch.cos(theta))
