"""What the trainer measures: ``digits_fid`` and ``digits_is`` for image models, mode coverage (and
the high-quality samples of each mode, ``mode_counts``) for the ring of Gaussians, and the
autoencoders' own held-out losses (DAE denoising error, VAE ELBO).

``digits_fid`` and ``digits_is`` are FID and Inception Score computed with fastgen's embedded digits
CNN, not the Inception network: they track a run's progress on digits, and are not comparable to
published FIDs (``fastgen fid`` computes those). The real images' Gaussian is a ``FIDReference``,
factorised once, so each evaluation during training costs one symmetric eigenvalue problem.

Under torch.distributed each rank generates its share of the samples; the features' statistics
are all-reduced (``FeatureStats.all_reduce``) and the few logits the Inception Score needs are
gathered, so every rank ends with the numbers of all the samples.
"""

from __future__ import annotations

import torch

from fastgen import distributed

__all__ = ["DigitsScorer", "evaluate_model"]

FEATURE_BATCH = 500


class DigitsScorer:
    """``digits_fid`` and ``digits_is`` of generated images against fixed real images (fastgen's digits CNN).

    ``real`` ``[N, C, H, W]`` in [0, 1]; the extractor turns RGB to gray and resizes to 28×28.
    """

    def __init__(self, real: torch.Tensor, device: torch.device | str = "cpu"):
        from fastgen.metrics import FeatureStats, FIDReference
        from fastgen.metrics.digits import load_digits_extractor

        self.device = torch.device(device)
        self.extractor = load_digits_extractor(self.device)
        features, _ = self.features_and_logits(real)
        self.reference = FIDReference.from_stats(FeatureStats(features.shape[1]).update(features))

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [self.extractor(chunk.to(self.device)) for chunk in images.split(FEATURE_BATCH)]
        return torch.cat([f for f, _ in outputs]).cpu(), torch.cat([lg for _, lg in outputs]).cpu()

    def __call__(self, images: torch.Tensor) -> dict[str, float]:
        """The scores of ``images`` ``[n, C, H, W]``; under torch.distributed, of every rank's images
        together (each rank passes its own; every rank must call it)."""
        from fastgen.metrics import FeatureStats, inception_score

        features, logits = self.features_and_logits(images)
        stats = FeatureStats(features.shape[1]).update(features.to(distributed.collective_device()))
        if distributed.is_distributed():
            stats.all_reduce()
        score, score_std = inception_score(distributed.gather_rows(logits), splits=10, from_logits=True)
        fid = float(self.reference.distance(stats.mean.cpu(), stats.cov.cpu()))
        return {"digits_fid": fid, "digits_is": score, "digits_is_std": score_std}


@torch.no_grad()
def sample_in_batches(model, n: int, batch: int = 500) -> torch.Tensor:
    return torch.cat([model.sample(min(batch, n - start)).cpu() for start in range(0, n, batch)])


@torch.no_grad()
def evaluate_model(model, eval_data: torch.Tensor, *, scorer: DigitsScorer | None, num_samples: int) -> dict:
    """The held-out metrics that apply to ``model``; eval_data ``[N, ...]`` on the model's device.

    Under torch.distributed every rank calls it: each generates its share of the ``num_samples``
    samples (at least one each), and all ranks return the metrics of all of them.
    """
    results = {}
    if hasattr(model, "evaluate"):
        results.update(model.evaluate(eval_data))
    if not hasattr(model, "sample"):
        return results
    if num_samples < distributed.world_size():
        raise ValueError(f"num_samples={num_samples} gives some of the {distributed.world_size()} processes none")
    if eval_data.dim() == 4 and scorer is not None:
        results.update(scorer(sample_in_batches(model, distributed.share(num_samples))))
    elif eval_data.dim() == 2 and eval_data.shape[1] == 2:
        from fastgen.data.gaussians import high_quality_counts, high_quality_fraction, modes_covered

        points = distributed.gather_rows(sample_in_batches(model, distributed.share(num_samples)))
        results["modes_covered"] = modes_covered(points)
        results["high_quality_fraction"] = high_quality_fraction(points)
        results["mode_counts"] = high_quality_counts(points).tolist()  # what modes_covered's rule counts
    return results
