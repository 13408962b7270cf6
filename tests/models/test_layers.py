"""fastgen.models.layers: the GEMM projections against the torch layers they replace, and the
frozen network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastgen.models.layers import ConvToVector, VectorToMap, frozen, to_plain_layers

# float32: the GEMM sums each output's in_channels (or k·k·in) products in another order than
# oneDNN's convolution; the inputs are O(1), so the sums differ by a few ulp of their magnitude.
RTOL, ATOL = 1e-5, 1e-5


def _values_and_grads(layer: nn.Module, x: torch.Tensor, grad_out: torch.Tensor):
    x = x.detach().requires_grad_()
    out = layer(x)
    out.backward(grad_out)
    return out, x.grad, [p.grad for p in layer.parameters()]


def _assert_same(got, want):
    out, grad_x, grads = got
    torch.testing.assert_close(out, want[0], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(grad_x, want[1], rtol=RTOL, atol=ATOL)
    for g, w in zip(grads, want[2], strict=True):
        torch.testing.assert_close(g, w, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("input_rank", [2, 4])
def test_vector_to_map_is_the_transposed_convolution(bias, input_rank):
    torch.manual_seed(0)
    plain = nn.ConvTranspose2d(13, 6, 7, 1, 0, bias=bias)
    fast = VectorToMap(13, 6, 7, bias=bias)
    fast.load_state_dict(plain.state_dict())  # the same parameters, names and shapes
    z = torch.randn(5, 13)
    grad_out = torch.randn(5, 6, 7, 7)
    want = _values_and_grads(plain, z.view(5, 13, 1, 1), grad_out)
    got = _values_and_grads(fast, z if input_rank == 2 else z.view(5, 13, 1, 1), grad_out)
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    _assert_same((got[0], got[1].view(5, 13, 1, 1), got[2]), want)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_conv_to_vector_is_the_convolution(layout):
    torch.manual_seed(0)
    plain = nn.Conv2d(8, 3, 4, 1, 0)
    fast = ConvToVector(8, 3, 4).to(memory_format=layout)
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(6, 8, 4, 4).contiguous(memory_format=layout)
    grad_out = torch.randn(6, 3, 1, 1)
    _assert_same(_values_and_grads(fast, x, grad_out), _values_and_grads(plain, x, grad_out))
    # any other input size is an ordinary convolution
    wide = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(fast(wide), plain(wide), rtol=RTOL, atol=ATOL)


def test_frozen_network_gets_no_weight_gradients_and_is_restored():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    net[0].bias.requires_grad_(False)  # a parameter frozen by the user stays frozen
    x = torch.randn(5, 3, requires_grad=True)
    with frozen(net) as module:
        assert module is net
        assert not any(p.requires_grad for p in net.parameters())
        module(x).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in net.parameters())
    assert [p.requires_grad for p in net.parameters()] == [True, False, True, True]


def test_frozen_unwraps_a_data_parallel_wrapper():
    class Wrapper(nn.Module):  # what DistributedDataParallel looks like from outside
        def __init__(self, module):
            super().__init__()
            self.module = module

    inner = nn.Linear(2, 2)
    with frozen(Wrapper(inner)) as module:
        assert module is inner


def test_to_plain_layers_is_the_same_network_and_draws_no_random_number():
    from fastgen.models.dcgan import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    generator, discriminator = DCGANGenerator(8, 1, 28, 4), DCGANDiscriminator(1, 28, 4)
    state = torch.get_rng_state()
    plain_g, plain_d = to_plain_layers(generator), to_plain_layers(discriminator)
    assert torch.equal(torch.get_rng_state(), state)
    assert not any(isinstance(m, (VectorToMap, ConvToVector)) for m in [*plain_g.modules(), *plain_d.modules()])
    assert plain_g.state_dict().keys() == generator.state_dict().keys()
    z = torch.randn(3, 8)
    images = generator(z)
    torch.testing.assert_close(plain_g.net(z.view(3, 8, 1, 1)), images, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(plain_d.net(images.contiguous()).view(-1), discriminator(images), rtol=RTOL, atol=ATOL)
