"""`fastgen sample RUN_DIR -n 64 -o grid.png`: draw samples from a trained run's checkpoint."""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="a folder written by `fastgen train`")
    parser.add_argument("-n", "--num-samples", type=int, default=64, help="how many samples (default 64)")
    parser.add_argument("-o", "--output", default="grid.png", help="PNG to write (default grid.png)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")


def run(args) -> int:
    import torch

    from fastgen.train import CHECKPOINT_NAME, build_model, load_checkpoint
    from fastgen.train.callbacks import scatter_figure, write_png

    if args.num_samples < 1:
        raise SystemExit(f"-n must be a positive number of samples, got {args.num_samples}")
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise SystemExit(f"{output} exists; pass --overwrite to replace it, or another -o")
    state = load_checkpoint(Path(args.run_dir) / CHECKPOINT_NAME, args.device)
    config = state["config"]
    model = build_model(config["model"], config["data_shape"], config["options"])
    if not hasattr(model, "sample"):
        raise SystemExit(f"a {config['model']} run has no sampler: it is an autoencoder, not a generative model")
    model.load_state_dict(state["model"])
    model.to(args.device).eval()
    torch.manual_seed(args.seed)
    samples = model.sample(args.num_samples).cpu()
    write_png(output, samples if samples.dim() == 4 else scatter_figure(samples, f"{config['model']} samples"))
    print(f"wrote {args.num_samples} samples of {config['model']} (step {state['step']}) to {output}")
    return 0
