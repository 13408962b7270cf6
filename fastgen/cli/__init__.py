"""The `fastgen` command. Each subcommand lives in its own module of this package and adds
itself through ``add_arguments(parser)`` and runs through ``run(args)``. Only the module of the
subcommand named on the command line is imported (``fastgen --help`` and ``fastgen --version``
import none, nor torch), and each keeps its heavy imports (torch...) inside ``run``, so that help
and usage errors come at once.

:func:`main` holds the one error policy of every subcommand: ``run`` raises, ``main`` reports. A
user's mistake gets one line, ``fastgen COMMAND: error: ...``, never a traceback: argparse's own
errors and :class:`UsageError` (a value found wrong after parsing: a missing folder, conflicting
settings, a bad file named by its argument) exit with 2; a missing file, or a ``ValueError`` that
fastgen's own code raised about its input (an unreadable checkpoint), exit with 1; Ctrl-C with
130. Any other exception is a bug and keeps its traceback.

Under ``torchrun`` every process runs ``main``; an error that another process reports (see
:func:`reported_elsewhere`: one rank 0 decided for all, or one a peer met) exits with the same
code on this one but prints nothing, so that the user reads it once.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import warnings

# subcommand -> (module, one-line help)
COMMANDS = {
    "info": ("fastgen.cli.info", "what this installation can do: versions, backends, GPU"),
    "fid": ("fastgen.cli.fid", "Frechet Inception Distance between two image folders, .npz stats or feature files"),
    "stats": ("fastgen.cli.stats", "precompute the feature statistics (mu, sigma) of an image folder into a .npz"),
    "kid": ("fastgen.cli.kid", "Kernel Inception Distance between two sets of images or features"),
    "prc": ("fastgen.cli.prc", "precision, recall, density and coverage of generated images against real ones"),
    "is": ("fastgen.cli.is_score", "Inception Score of a set of images (a folder, a run, a dataset) or logits"),
    "train": ("fastgen.cli.train", "train dae, gan, lsgan, dcgan or vae; write samples, curves, metrics, checkpoints"),
    "sample": ("fastgen.cli.sample", "draw samples from a trained run: a grid image, or a folder of PNGs"),
    "selftest": ("fastgen.cli.selftest", "check every op on every backend usable here against the reference"),
}
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (128 + 2)
# errors about files the user named: always the user's to fix, whichever code raised them
FILE_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


class UsageError(Exception):
    """A command-line value found wrong after parsing; printed like argparse's errors, exit 2."""

    def __init__(self, argument: str, message: str):
        super().__init__(argument, message)  # both in args: it pickles (to travel between ranks)

    def __str__(self) -> str:
        return f"argument {self.args[0]}: {self.args[1]}"


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors on one line (``PROG: error: MESSAGE``) instead of the usage
    block followed by the error; ``PROG --help`` still shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


# ----- argument types: each raises ArgumentTypeError, which argparse reports as
# "argument --NAME: MESSAGE" -----


def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "a non-negative integer")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def torch_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` naming a device this machine has."""
    if text == "cpu":
        return text  # the common case, without importing torch while parsing
    import torch

    expected = f"expected cpu, cuda or cuda:N, got {text!r}"
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(expected) from None
    if device.type == "cpu":
        return text
    if device.type != "cuda":
        raise argparse.ArgumentTypeError(expected)
    if not torch.cuda.is_available():
        build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA device is visible"
        raise argparse.ArgumentTypeError(f"{text} is not available here ({build})")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        have = f"cuda:0 to cuda:{count - 1}" if count > 1 else "cuda:0"
        raise argparse.ArgumentTypeError(f"no such device {text}: this machine has {have}")
    return text


# ----- the command -----


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand ``argv`` names gets its arguments (its module
    imported), the others their one-line help."""
    from fastgen import __version__

    parser = OneLineParser(prog="fastgen", description="Fused kernels for generative models.")
    parser.add_argument("--version", action="version", version=f"fastgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    named = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module, _prog=command.prog)
        if argv is None or name == named:
            importlib.import_module(module).add_arguments(command)
    return parser


def _raised_by_fastgen(error: BaseException) -> bool:
    """Whether the innermost frame of ``error``'s traceback is fastgen's own code (an argument
    check), rather than a library's (which would be a bug of ours to see in full)."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and traceback.tb_frame.f_globals.get("__name__", "").startswith("fastgen.")


def _show_fastgen_warnings(prog: str):
    """A ``showwarning`` printing fastgen's own warnings as ``PROG: warning: MESSAGE`` (one line)."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("fastgen."):
            print(f"{prog}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


# The marks of an error that another process of a torchrun job prints: ``reported_by_rank_0``, set by
# fastgen.train's decided_by_rank_0 on the other ranks, and ``reported_by_another_process``, which
# fastgen.metrics.extract.PeerFailedError carries (the rank that met the unreadable image reports it).
REPORTED_ELSEWHERE = ("reported_by_rank_0", "reported_by_another_process")


def reported_elsewhere(error: BaseException) -> bool:
    """Whether another process of this torchrun job prints ``error`` (this one exits quietly)."""
    return any(getattr(error, mark, False) for mark in REPORTED_ELSEWHERE)


def as_usage_error(argument: str, error: BaseException, message: str | None = None) -> UsageError:
    """``error`` restated as a :class:`UsageError` naming ``argument`` (in ``message``'s words, by
    default ``error``'s), printed by whichever process would have printed ``error``."""
    usage = UsageError(argument, str(error) if message is None else message)
    for mark in REPORTED_ELSEWHERE:
        if getattr(error, mark, False):
            setattr(usage, mark, True)
    return usage


def report_error(prog: str, error: BaseException) -> None:
    """The one line of an error, ``PROG: error: MESSAGE``; nothing when another process reports it."""
    if not reported_elsewhere(error):
        print(f"{prog}: error: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    prog = args._prog
    previous_showwarning, warnings.showwarning = warnings.showwarning, _show_fastgen_warnings(prog)
    try:
        status = int(importlib.import_module(args._module).run(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at interpreter exit
        return status
    except UsageError as error:
        report_error(prog, error)
        return 2
    except FILE_ERRORS as error:
        report_error(prog, error)
        return 1
    except ValueError as error:
        if not _raised_by_fastgen(error):
            raise
        report_error(prog, error)
        return 1
    except BrokenPipeError:
        # Whoever read stdout left (`fastgen info | head`): stop quietly, as Unix tools do, and
        # point stdout at /dev/null so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        warnings.showwarning = previous_showwarning
