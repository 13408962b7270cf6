"""What the trainer measures: digits-FID and Inception Score for image models, mode coverage for
the ring of Gaussians, and the autoencoders' own held-out losses (DAE denoising error, VAE ELBO).

``gaussian_frechet_distance`` and ``inception_score_from_logits`` are small local versions of the
metrics package's ``fastgen.metrics.fid.frechet_distance`` and
``fastgen.metrics.inception_score.inception_score``, kept behind these names so that the trainer
can switch to those when they land.
"""

from __future__ import annotations

import math

import torch

__all__ = ["DigitsScorer", "evaluate_model", "gaussian_frechet_distance", "inception_score_from_logits"]

FEATURE_BATCH = 500


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix (float64 eigh; rounding negatives → 0)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def gaussian_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁^½ Σ₂ Σ₁^½)^½ (Heusel et al., NeurIPS 2017), in float64.

    Σ₁Σ₂ is similar to the symmetric PSD Σ₁^½ Σ₂ Σ₁^½, so the trace term is the sum of the square
    roots of that matrix's eigenvalues: no complex Schur form is needed.
    """
    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(t, dtype=torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return max(distance.item(), 0.0)


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[d]`` and unbiased covariance ``[d, d]`` of features ``[N, d]``, in float64."""
    features = features.to(torch.float64)
    return features.mean(0), torch.cov(features.T)


def inception_score_from_logits(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) ‖ p(y))) over ``splits`` consecutive chunks (Salimans et al. 2016): (mean, std)."""
    log_p = torch.log_softmax(logits.to(torch.float64), dim=1)
    scores = []
    for chunk in log_p.chunk(splits):
        log_marginal = torch.logsumexp(chunk, dim=0) - math.log(chunk.shape[0])
        kl = (chunk.exp() * (chunk - log_marginal)).sum(1).mean()
        scores.append(kl.exp())
    scores = torch.stack(scores)
    return scores.mean().item(), (scores.std(unbiased=False).item() if len(scores) > 1 else 0.0)


class DigitsScorer:
    """digits-FID and IS of generated images against fixed real images, with fastgen's digits CNN.

    ``real`` ``[N, C, H, W]`` in [0, 1]; the extractor turns RGB to gray and resizes to 28×28.
    """

    def __init__(self, real: torch.Tensor, device: torch.device | str = "cpu"):
        from fastgen.metrics.digits import load_digits_extractor

        self.device = torch.device(device)
        self.extractor = load_digits_extractor(self.device)
        features, _ = self.features_and_logits(real)
        self.real_mu, self.real_sigma = feature_statistics(features)

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [self.extractor(chunk.to(self.device)) for chunk in images.split(FEATURE_BATCH)]
        return torch.cat([f for f, _ in outputs]).cpu(), torch.cat([lg for _, lg in outputs]).cpu()

    def __call__(self, images: torch.Tensor) -> dict[str, float]:
        features, logits = self.features_and_logits(images)
        mu, sigma = feature_statistics(features)
        score, score_std = inception_score_from_logits(logits)
        fid = gaussian_frechet_distance(mu, sigma, self.real_mu, self.real_sigma)
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
