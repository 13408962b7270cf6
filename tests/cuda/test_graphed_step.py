"""The whole training step captured as one CUDA graph (fastgen.train.graphs), on a GPU: the
graphed step trains exactly as the eager one (bit for bit under deterministic cuDNN, from the
same initial weights and generator state), every replay draws fresh noise, and the Trainer
captures by default. The host-side pieces (the refusals, the eager fallback) run everywhere."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from fastgen import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder
from fastgen.train.graphs import CaptureUnavailable, GraphedStep, capture_refusal
from fastgen.train.step import EagerSteps, step_function

cuda = pytest.mark.cuda
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

MODELS = {
    "dcgan": (lambda: DCGAN(28, 1, latent_dim=8, width=8), (1, 28, 28)),
    "lsgan": (lambda: LSGAN((1, 28, 28), latent_dim=8, arch="dcgan", width=8), (1, 28, 28)),
    "gan": (lambda: GAN((2,), latent_dim=4, hidden=16), (2,)),
    "vae": (lambda: VAE((1, 8, 8), latent_dim=4, hidden=16), (1, 8, 8)),
    "dae": (lambda: DenoisingAutoencoder(64, 16), (1, 8, 8)),
}
STEPS = 8  # 3 eager warm-up steps, the captured one, 4 replays


@pytest.fixture
def deterministic_cudnn():
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def _train(model, data, graphed: bool):
    torch.manual_seed(5)
    optimizers = model.make_optimizers()
    step = GraphedStep(model, optimizers) if graphed else (lambda batch: model.training_step(batch, optimizers))
    losses = [{k: v.clone() for k, v in step(batch).items()} for batch in data]
    return losses, model.state_dict()


@cuda
@needs_gpu
@pytest.mark.parametrize("name", list(MODELS))
def test_graphed_step_trains_bit_for_bit_as_eager(name, deterministic_cudnn):
    build, shape = MODELS[name]
    torch.manual_seed(0)
    eager_model = build().cuda()
    graphed_model = copy.deepcopy(eager_model)
    data = torch.rand(STEPS, 16, *shape, generator=torch.Generator().manual_seed(1)).cuda()
    eager_losses, eager_state = _train(eager_model, data, graphed=False)
    graphed_losses, graphed_state = _train(graphed_model, data, graphed=True)
    for step, (got, want) in enumerate(zip(graphed_losses, eager_losses, strict=True)):
        for key in want:
            assert torch.equal(got[key], want[key]), (step, key)
    for key in eager_state:
        assert torch.equal(graphed_state[key], eager_state[key]), key
    # the replays really trained: the losses moved, and no two replays read the same noise
    assert len({float(losses[next(iter(losses))]) for losses in graphed_losses}) == STEPS


@cuda
@needs_gpu
def test_a_batch_of_another_shape_is_refused_after_capture():
    model = GAN((2,), latent_dim=4, hidden=8).cuda()
    graphed = GraphedStep(model, model.make_optimizers(), warmup_steps=0)
    graphed(torch.rand(4, 2, device="cuda"))
    with pytest.raises(ValueError, match=r"batches of shape \(4, 2\), got \(5, 2\)"):
        graphed(torch.rand(5, 2, device="cuda"))


def test_capture_is_refused_off_the_gpu_and_under_ddp():
    assert "CUDA device" in capture_refusal(torch.device("cpu"), 1)
    assert "DistributedDataParallel" in capture_refusal(torch.device("cuda"), 2)
    assert capture_refusal(torch.device("cuda"), 1) is None
    model = GAN((2,), latent_dim=4, hidden=8)
    with pytest.raises(CaptureUnavailable, match="CUDA device"):
        GraphedStep(model, model.make_optimizers())


def test_cpu_steps_are_eager_without_a_warning():
    model = GAN((2,), latent_dim=4, hidden=8)
    optimizers = model.make_optimizers()
    with warnings.catch_warnings():
        warnings.simplefilter("error", EagerSteps)
        step = step_function(model, optimizers, cuda_graphs=True)
        losses = step(torch.rand(4, 2))
    assert set(losses) == {"loss_d", "loss_g"}
