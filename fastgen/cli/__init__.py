"""The `fastgen` command. Each subcommand lives in its own module of this package and adds
itself through ``register(subparsers)``; the module is imported only when the command runs, so
that `fastgen info` stays fast."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
COMMANDS = {
    "info": ("fastgen.cli.info", "what this installation can do: versions, backends, GPU"),
    "fid": ("fastgen.cli.fid", "Frechet Inception Distance between two image folders, .npz stats or feature files"),
    "stats": ("fastgen.cli.stats", "precompute the feature statistics (mu, sigma) of an image folder into a .npz"),
    "train": ("fastgen.cli.train", "train dae, gan, lsgan, dcgan or vae; write samples, curves, metrics, checkpoints"),
    "sample": ("fastgen.cli.sample", "draw a grid of samples from a trained run"),
    "selftest": ("fastgen.cli.selftest", "check every op on every backend usable here against the reference"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgen", description="Fused kernels for generative models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(importlib.import_module(args._module).run(args) or 0)
