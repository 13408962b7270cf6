"""Inception FID (and KID) of a training run's generator against a reference set, during training.

`fastgen train ... --eval-ref real.npz` adds :class:`InceptionEvaluation`: every ``--eval-every``
steps (and at step 0 and the end) it draws ``--eval-samples`` images from the model in memory (no
files), runs them through the FID Inception network and logs ``inception_fid`` (and
``inception_kid`` when the reference holds features) into ``metrics.jsonl``, which the loss-curve
plot picks up. These are the published kind of FID, unlike the trainer's ``digits_fid``, provided
that enough samples are drawn (50,000 for a number to report; fewer only to follow a run).

The reference is prepared once, before training starts, so that a missing weight file or a bad
reference stops the command at once with one line: a ``.npz`` of statistics (FID only; its recorded
protocol and dims are used, and its recorded weights must be the ones loaded), or an image folder,
a dataset name or a ``.npy``/``.pt`` feature matrix (FID and KID).
"""

from __future__ import annotations

from pathlib import Path

import torch

from fastgen.train.trainer import Callback, Trainer

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # the references' (torch-fidelity, torchmetrics) defaults


class InceptionEvaluation(Callback):
    """``inception_fid`` / ``inception_kid`` of ``num_samples`` generated images against ``reference``.

    Args:
        reference: a statistics ``.npz``, an image folder, a dataset name or a feature file.
        every: steps between evaluations (also at step 0 and at the end).
        num_samples: generated images per evaluation (at least 2).
        weights: the FID Inception weight file; None: the torch hub cache (nothing is downloaded).
        device: where the network runs.
        seed: the evaluation's latent draws (the same at every evaluation, so curves compare like with like).

    Raises ValueError / FileNotFoundError in one line, at construction, for missing weights, an
    unreadable reference, or a reference made with another protocol, extractor or weight file.
    """

    def __init__(
        self,
        reference: str | Path,
        every: int,
        num_samples: int,
        *,
        weights: str | Path | None = None,
        device: torch.device | str = "cpu",
        seed: int = 0,
        batch_size: int = 50,
    ):
        from fastgen.metrics.extract import compute_features, get_extractor, source_kind
        from fastgen.metrics.fid import FIDReference
        from fastgen.metrics.preprocess import DEFAULT_PROTOCOL
        from fastgen.metrics.stats import FeatureStats

        if num_samples < 2:
            raise ValueError(f"num_samples must be at least 2 (a covariance), got {num_samples}")
        self.every, self.num_samples, self.seed, self.batch_size = every, num_samples, seed, batch_size
        kind = source_kind(reference)
        self.reference_features = None
        if kind == "stats":
            stats = FeatureStats.load(reference)
            provenance = stats.provenance or {}
            if provenance.get("extractor") not in (None, "inception"):
                raise ValueError(
                    f"eval reference {reference} was made with the {provenance['extractor']} extractor; "
                    "the evaluation uses the FID Inception network"
                )
            self.protocol = provenance.get("protocol") or DEFAULT_PROTOCOL
            self.extractor = get_extractor("inception", dims=stats.dim, weights=weights, device=device)
            recorded = provenance.get("weights_sha256")
            loaded = self.extractor.provenance["weights_sha256"]
            if recorded is not None and recorded != loaded:
                raise ValueError(
                    f"eval reference {reference} was made with Inception weights {recorded[:8]}, but the weights "
                    f"found are {loaded[:8]}: the FIDs would mean nothing"
                )
        else:
            self.protocol = DEFAULT_PROTOCOL
            self.extractor = get_extractor("inception", weights=weights, device=device)
            options = {"batch_size": batch_size, "progress": False, "protocol": self.protocol}
            self.reference_features = compute_features(reference, self.extractor, **options)
            stats = FeatureStats(self.reference_features.shape[1]).update(self.reference_features)
            if stats.dim != self.extractor.dims:
                raise ValueError(f"eval reference {reference} holds {stats.dim}-d features, not Inception's 2048")
        self.reference = FIDReference.from_stats(stats)

    def on_start(self, trainer: Trainer) -> None:
        if trainer.step == 0:
            self.evaluate(trainer)

    def on_step(self, trainer: Trainer, losses) -> None:
        if trainer.step % self.every == 0 or trainer.step == trainer.steps:
            self.evaluate(trainer)

    def evaluate(self, trainer: Trainer) -> dict[str, float]:
        from fastgen.metrics.extract import compute_features
        from fastgen.metrics.kid import kid
        from fastgen.metrics.stats import FeatureStats

        model = trainer.model
        model.eval()
        try:
            features = compute_features(
                lambda n: model.sample(n),
                self.extractor,
                num_samples=self.num_samples,
                seed=self.seed,
                batch_size=self.batch_size,
                protocol=self.protocol,
                progress=False,
            )
        finally:
            model.train()
        stats = FeatureStats(features.shape[1]).update(features)
        results = {"inception_fid": float(self.reference.distance(stats))}
        if self.reference_features is not None:
            size = min(KID_SUBSET_SIZE, len(features), len(self.reference_features))
            results["inception_kid"] = kid(self.reference_features, features, KID_SUBSETS, size)[0]
        trainer.log({"eval": results})
        from tqdm.auto import tqdm

        tqdm.write(f"step {trainer.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in results.items()))
        return results
