"""What the trainer measures: digits-FID and Inception Score for image models, mode coverage for
the ring of Gaussians, and the autoencoders' own held-out losses (DAE denoising error, VAE ELBO).

FID and IS come from ``fastgen.metrics``: the real images' Gaussian is a ``FIDReference``,
factorised once, so each evaluation during training costs one symmetric eigenvalue problem.
"""

from __future__ import annotations

import torch

__all__ = ["DigitsScorer", "evaluate_model", "feature_statistics"]

FEATURE_BATCH = 500


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[d]`` and unbiased covariance ``[d, d]`` of features ``[N, d]``, in float64."""
    features = features.to(torch.float64)
    return features.mean(0), torch.cov(features.T)


class DigitsScorer:
    """digits-FID and IS of generated images against fixed real images, with fastgen's digits CNN.

    ``real`` ``[N, C, H, W]`` in [0, 1]; the extractor turns RGB to gray and resizes to 28×28.
    """

    def __init__(self, real: torch.Tensor, device: torch.device | str = "cpu"):
        from fastgen.metrics import FIDReference
        from fastgen.metrics.digits import load_digits_extractor

        self.device = torch.device(device)
        self.extractor = load_digits_extractor(self.device)
        features, _ = self.features_and_logits(real)
        self.reference = FIDReference(*feature_statistics(features))

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [self.extractor(chunk.to(self.device)) for chunk in images.split(FEATURE_BATCH)]
        return torch.cat([f for f, _ in outputs]).cpu(), torch.cat([lg for _, lg in outputs]).cpu()

    def __call__(self, images: torch.Tensor) -> dict[str, float]:
        from fastgen.metrics import inception_score

        features, logits = self.features_and_logits(images)
        score, score_std = inception_score(logits, splits=10, from_logits=True)
        fid = float(self.reference.distance(*feature_statistics(features)))
        return {"digits_fid": fid, "inception_score": score, "inception_score_std": score_std}


@torch.no_grad()
def sample_in_batches(model, n: int, batch: int = 500) -> torch.Tensor:
    return torch.cat([model.sample(min(batch, n - start)).cpu() for start in range(0, n, batch)])


@torch.no_grad()
def evaluate_model(model, eval_data: torch.Tensor, *, scorer: DigitsScorer | None, num_samples: int) -> dict:
    """The held-out metrics that apply to ``model``; eval_data ``[N, ...]`` on the model's device."""
    results = {}
    if hasattr(model, "evaluate"):
        results.update(model.evaluate(eval_data))
    if not hasattr(model, "sample"):
        return results
    if eval_data.dim() == 4 and scorer is not None:
        results.update(scorer(sample_in_batches(model, num_samples)))
    elif eval_data.dim() == 2 and eval_data.shape[1] == 2:
        from fastgen.data.gaussians import high_quality_fraction, modes_covered

        points = sample_in_batches(model, num_samples)
        results["modes_covered"] = modes_covered(points)
        results["high_quality_fraction"] = high_quality_fraction(points)
    return results
