"""FIDInceptionV3 against pytorch-fid's InceptionV3 with the same (random) weights.

pytorch-fid's weight file cannot be downloaded here, so both networks get one random state dict
with the key names of ``pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's
``fid_inception_v3`` loads it strictly through the patched ``load_state_dict_from_url``, which
proves that the names match the file's. Batch-norm statistics and affine parameters are random
too (not 0/1), so every layer of the graph matters to the comparison.

Tolerance: both run the same float32 operations in the same order on the same CPU, so the
features agree to float32 rounding; we allow 1e-5 of the largest value (oneDNN may pick another
convolution algorithm for a different module layout; in practice they are bit-identical).
"""

import pytest
import torch
import torch.nn.functional as F

pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception", reason="pytorch-fid is a test dependency")

from fastgen.metrics.inception import (  # noqa: E402
    WEIGHTS_FILENAME,
    WEIGHTS_URL,
    FIDInceptionV3,
    find_inception_weights,
    load_inception_extractor,
    random_fid_state_dict,
)

RTOL = 1e-5


@pytest.fixture(scope="module")
def state_dict():
    return random_fid_state_dict()


@pytest.fixture(scope="module")
def pytorch_fid_networks(state_dict):
    """pytorch-fid's feature network (all four blocks) and its full torchvision Inception3 (for logits)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state_dict)
    try:
        blocks = pytorch_fid_inception.InceptionV3([0, 1, 2, 3], use_fid_inception=True).eval()
        classifier = pytorch_fid_inception.fid_inception_v3().eval()
    finally:
        patch.undo()
    return blocks, classifier


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (2, 3, 61, 83), generator=generator, dtype=torch.uint8)


@pytest.fixture(scope="module")
def reference_blocks(pytorch_fid_networks, images):
    """pytorch-fid's outputs of blocks 0-3 for ``images``, fed as its ToTensor gives them: u / 255."""
    blocks, _ = pytorch_fid_networks
    with torch.inference_mode():
        return blocks(images.float() / 255)


@pytest.fixture(scope="module")
def our_outputs(state_dict, images):
    with torch.inference_mode():
        return ours(state_dict)(images)


def ours(state_dict, dims=2048):
    network = FIDInceptionV3(dims)
    network.load_state_dict(state_dict)
    return network


def assert_close(actual, expected):
    scale = expected.abs().max().item()
    assert scale > 1e-3, "reference features vanished: the comparison would be vacuous"
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=RTOL * scale)


def test_state_dict_names_and_shapes_match_the_fid_weight_file(state_dict, pytorch_fid_networks):
    _, classifier = pytorch_fid_networks
    reference = classifier.state_dict()
    assert set(state_dict) == set(reference)
    assert all(state_dict[name].shape == reference[name].shape for name in reference)


@torch.inference_mode()
def test_features_and_logits_equal_pytorch_fid(pytorch_fid_networks, images, reference_blocks, our_outputs):
    _, classifier = pytorch_fid_networks
    features, logits = our_outputs
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert features.dtype == logits.dtype == torch.float32
    assert_close(features, reference_blocks[3].flatten(1))

    # The full graph through torchvision's fc, minus the bias: the "logits_unbiased" of IS.
    x = 2 * F.interpolate(images.float() / 255, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert_close(logits, classifier(x) - classifier.fc.bias)


@torch.inference_mode()
def test_batch_norm_folded_channels_last_network_equals_pytorch_fid(state_dict, images, reference_blocks, our_outputs):
    """The network fastgen runs (load_inception_extractor folds it): the same function, float32 rounding apart."""
    network = ours(state_dict).optimize_for_inference()
    features, logits = network(images)
    assert_close(features, reference_blocks[3].flatten(1))
    assert_close(logits, our_outputs[1])
    network.load_state_dict(random_fid_state_dict(seed=9))  # folds again: no stale weights
    moved, _ = network(images)
    fresh = ours(random_fid_state_dict(seed=9))(images)[0]
    assert_close(moved, fresh)


@pytest.mark.parametrize("dims, block", [(64, 0), (192, 1), (768, 2)])
@torch.inference_mode()
def test_lower_blocks_equal_pytorch_fid_spatial_means(state_dict, images, reference_blocks, dims, block):
    reference = F.adaptive_avg_pool2d(reference_blocks[block][:1], 1).flatten(1)
    features, _ = ours(state_dict, dims)(images[:1])
    assert features.shape == (1, dims)
    assert_close(features, reference)


@torch.inference_mode()
def test_float_input_is_rounded_to_8_bits_and_gray_is_replicated(state_dict, images, our_outputs):
    network = ours(state_dict)
    expected = our_outputs[0][:1]
    # Every float within half a level of u rounds to u (truncation would give u - 1 for u - 0.4).
    offsets = torch.rand(images[:1].shape, generator=torch.Generator().manual_seed(2)) * 0.8 - 0.4
    near = ((images[:1].float() + offsets) / 255).clamp(0, 1)
    torch.testing.assert_close(network(near)[0], expected, rtol=0, atol=0)

    gray = images[:1, :1]
    torch.testing.assert_close(network(gray)[0], network(gray.expand(-1, 3, -1, -1))[0], rtol=0, atol=0)


def test_bad_inputs_raise_clear_errors():
    network = FIDInceptionV3()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        network(torch.full((1, 3, 8, 8), 1.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        network(torch.full((1, 3, 8, 8), float("nan")))
    with pytest.raises(TypeError, match="uint8"):
        network(torch.zeros(1, 3, 8, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        network(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="dims must be one of"):
        FIDInceptionV3(dims=1000)


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as error:
        load_inception_extractor()
    message = str(error.value)
    assert WEIGHTS_URL in message and str(tmp_path / "hub" / "checkpoints") in message

    with pytest.raises(FileNotFoundError, match=WEIGHTS_URL):
        load_inception_extractor(tmp_path / "nowhere.pth")


def test_loads_the_weight_file_from_the_hub_cache_or_a_path(tmp_path, monkeypatch, state_dict, images):
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state_dict, checkpoints / WEIGHTS_FILENAME)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert find_inception_weights() == checkpoints / WEIGHTS_FILENAME

    network = load_inception_extractor(dims=768)
    assert network.dims == 768 and not network.training
    assert not any(parameter.requires_grad for parameter in network.parameters())
    for name, value in network.state_dict().items():
        torch.testing.assert_close(value, state_dict[name], rtol=0, atol=0)

    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048)}, foreign)
    with pytest.raises(ValueError, match="is not the FID Inception weight file"):
        load_inception_extractor(foreign)
