"""A model's whole training step captured as one CUDA graph and replayed at every step.

A small model's step on a GPU is bound by the host: a DCGAN step launches hundreds of kernels,
each costing microseconds of Python, dispatcher and driver time, while the GPU finishes them
faster than they arrive. Captured once (``torch.cuda.graph``), the step's kernels, the optimizer
updates included, replay with one launch; the host is then free after a copy of the batch and
one ``replay()``. This is PyTorch's "whole network capture" recipe
(https://pytorch.org/docs/stable/notes/cuda.html#whole-network-capture):

- the first ``warmup_steps`` steps run eagerly on a side stream (cuDNN and cuBLAS pick their
  algorithms and allocate their workspaces, the optimizers create their state), then the next
  step is captured; every step, the warm-up ones included, trains the model once;
- the batch is copied into a static input tensor, and the losses come back in static output
  tensors that the next replay overwrites (``Trainer._accumulate`` adds them to its window before
  that);
- Adam runs with ``capturable=True`` (its step counters live on the GPU); random numbers come from
  torch's CUDA generator, whose graph-safe Philox state gives every replay fresh noise (fastgen's
  random ops draw from it too when no seed is given).

What the step does must not change from one call to the next (shapes, which networks are frozen,
Python branches); fastgen's models' steps are such steps. When capture is impossible,
``GraphedStep`` raises ``CaptureUnavailable`` with the reason, and the caller runs the eager step.
"""

from __future__ import annotations

import torch

__all__ = ["CaptureUnavailable", "GraphedStep", "capture_refusal"]


class CaptureUnavailable(RuntimeError):
    """The step cannot be captured here; the message says why (one line)."""


def capture_refusal(device: torch.device, world_size: int) -> str | None:
    """Why a step on ``device`` in a job of ``world_size`` processes is not captured (None: it can be)."""
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device, the step runs on {device.type}"
    if world_size > 1:
        return "steps under DistributedDataParallel are not captured (its gradient hooks run on the host)"
    return None


class GraphedStep:
    """``model.training_step(batch, optimizers)`` (or ``step(batch)``) captured after
    ``warmup_steps`` eager steps.

    Call it like the step (``graphed(batch)``); it returns the step's losses (0-d tensors on the
    GPU, overwritten by the next call). Batches must keep the first batch's shape and dtype.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        warmup_steps: int = 3,
        step=None,
    ):
        device = next(model.parameters()).device
        reason = capture_refusal(device, 1)
        if reason is not None:
            raise CaptureUnavailable(reason)
        self.optimizers, self.warmup_steps = optimizers, warmup_steps
        # what is captured: the model's step, or ``step(batch)`` wrapping it (autocast)
        self.step = step if step is not None else (lambda batch: model.training_step(batch, optimizers))
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                if "capturable" in group:
                    group["capturable"] = True
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_batch: torch.Tensor | None = None
        self.static_losses: dict[str, torch.Tensor] = {}
        self.steps_run = 0
        self.side_stream = torch.cuda.Stream(device)

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.graph is not None:
            if batch.shape != self.static_batch.shape or batch.dtype != self.static_batch.dtype:
                raise ValueError(
                    f"a captured step takes batches of shape {tuple(self.static_batch.shape)}, got {tuple(batch.shape)}"
                )
            self.static_batch.copy_(batch, non_blocking=True)
            self.graph.replay()
            return self.static_losses
        if self.steps_run < self.warmup_steps:
            return self._eager_on_side_stream(batch)
        return self._capture(batch)

    def _eager_on_side_stream(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        self.side_stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side_stream):
            losses = self.step(batch)
        torch.cuda.current_stream().wait_stream(self.side_stream)
        self.steps_run += 1
        return losses

    def _capture(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        self.static_batch = batch.clone()
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize()
        try:
            with torch.cuda.graph(graph):
                self.static_losses = self.step(self.static_batch)
        except RuntimeError as error:
            raise CaptureUnavailable(f"capturing the step failed: {str(error).splitlines()[0]}") from error
        self.graph = graph
        # capture records the kernels without running them: this step's update happens now
        self.graph.replay()
        self.steps_run += 1
        return self.static_losses
