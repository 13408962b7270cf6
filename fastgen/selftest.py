"""`fastgen selftest`: every op on every backend this machine can run, against the reference.

For each op, small and odd shapes, every dtype and every (device, backend) pair usable here
(the CPU with ``cpp`` and ``torch``, and ``triton`` under ``TRITON_INTERPRET=1``; each visible GPU
with ``cuda``, ``triton`` and ``torch``), the op's outputs and the gradients of every
differentiable input are compared with the reference (``backend="torch"``) run on the CPU in
float64 on the same (dtype-rounded) inputs and seed.

Tolerance, per output (flash-attention's rule): the backend's error may be at most twice the
error of the reference itself run in that dtype on that device, plus a floor of a few units in
the last place of the dtype (``FLOOR``: float32 results differ from float64 by the order of the
summations over up to ~10^2 terms). Errors are relative to the output's magnitude:
``max |out - ref| / max(1, max |ref|)``. Philox uniforms are bit-identical on every backend
(tolerance 0); Philox normals agree to a few ulp (log, sin and cos differ between math libraries).
A backend that declines a dtype (Triton has no float64 kernels) is listed as skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

import fastgen
from fastgen import ops

OPS = (
    "reparameterize",
    "corrupt_encode",
    "ls_discriminator_loss",
    "ls_generator_loss",
    "covariance",
    "philox_uniform",
    "philox_normal",
)
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
# A few ulp at the values' scale (see the module docstring).
FLOOR = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
SEED = 20260415
NORMAL_TOLERANCE = 2e-6  # Box-Muller normals: a few ulp of float32 at |eps| < 6
# reparameterize draws eps as float32 Philox normals in every dtype (float64 included), so its z
# and grad logvar carry their few-ulp differences times exp(logvar / 2) (< 3 for these inputs).
NOISE_FLOOR = 3 * NORMAL_TOLERANCE


@dataclass(frozen=True)
class Case:
    """One op on one shape: ``make(generator)`` draws float64 CPU inputs (the differentiable ones
    first, ``grads`` of them), ``call(inputs, backend)`` returns the op's outputs."""

    op: str
    shape: str
    make: Callable[[torch.Generator], list]
    call: Callable[[list, str], tuple[torch.Tensor, ...]]
    outputs: tuple[str, ...]
    grads: tuple[str, ...] = ()
    dtypes: tuple[torch.dtype, ...] = DTYPES
    floor: float = 0.0  # an error every backend may have whatever the dtype (see NOISE_FLOOR)


@dataclass
class Row:
    """One (op, backend, device, dtype): the worst output over the shapes, relative to its tolerance."""

    op: str
    backend: str
    device: str
    dtype: str
    error: float = 0.0
    tolerance: float = 0.0
    worst: str = ""  # the output and shape of that error, or why the row failed or was skipped
    status: str = "ok"  # ok, FAIL, skip

    @property
    def ok(self) -> bool:
        return self.status != "FAIL"

    def record(self, error: float, tolerance: float, where: str) -> None:
        if error > tolerance:
            self.status = "FAIL"
        if not self.worst or _ratio(error, tolerance) > _ratio(self.error, self.tolerance):
            self.error, self.tolerance, self.worst = error, tolerance, where


def _ratio(error: float, tolerance: float) -> float:
    if tolerance:
        return error / tolerance
    return 0.0 if error == 0 else math.inf


def _normal(generator: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64) * scale


def cases() -> Iterator[Case]:
    for rows, d in ((1, 1), (7, 13), (3, 130)):
        yield Case(
            "reparameterize",
            f"[{rows},{d}]",
            lambda g, r=rows, d=d: [_normal(g, r, d), _normal(g, r, d, scale=0.5)],
            lambda x, backend: ops.reparameterize(x[0], x[1], seed=SEED, backend=backend),
            outputs=("z", "kl"),
            grads=("mu", "logvar"),
            floor=NOISE_FLOOR,
        )
    for n, n_visible, n_hidden in ((1, 1, 1), (7, 13, 5), (33, 70, 20)):
        yield Case(
            "corrupt_encode",
            f"[{n},{n_visible}]x[{n_visible},{n_hidden}]",
            lambda g, n=n, v=n_visible, h=n_hidden: [
                torch.rand(n, v, generator=g, dtype=torch.float64),
                _normal(g, v, h, scale=v**-0.5),
                _normal(g, h, scale=0.1),
            ],
            lambda x, backend: (ops.corrupt_encode(x[0], x[1], x[2], corruption=0.25, seed=SEED, backend=backend),),
            outputs=("h",),
            grads=("x", "weight", "bias"),
        )
    for n_real, n_fake in ((1, 1), (5, 7), (1000, 999)):
        yield Case(
            "ls_discriminator_loss",
            f"[{n_real}],[{n_fake}]",
            lambda g, r=n_real, f=n_fake: [_normal(g, r, 1), _normal(g, f, 1)],
            lambda x, backend: (ops.ls_discriminator_loss(x[0], x[1], 0.0, 1.0, backend=backend),),
            outputs=("loss",),
            grads=("d_real", "d_fake"),
        )
        yield Case(
            "ls_generator_loss",
            f"[{n_fake}]",
            lambda g, f=n_fake: [_normal(g, f)],
            lambda x, backend: (ops.ls_generator_loss(x[0], 1.0, backend=backend),),
            outputs=("loss",),
            grads=("d_fake",),
        )
    for n, d in ((2, 1), (17, 5), (100, 40)):
        yield Case(
            "covariance",
            f"[{n},{d}]",
            lambda g, n=n, d=d: [_normal(g, n, d) + 3.0],
            lambda x, backend: (ops.covariance(x[0], backend=backend),),
            outputs=("cov",),
            grads=("x",),
        )
    for count in (1, 1000):
        for name in ("philox_uniform", "philox_normal"):
            draw = getattr(ops, name)
            yield Case(
                name,
                f"[{count}]",
                # offsets past 2^32 exercise the high word of the Philox counter
                lambda g, c=count: [torch.arange(c, dtype=torch.int64) * 7919 + 2**33],
                lambda x, backend, draw=draw: (draw(x[0], SEED, backend=backend),),
                outputs=("u" if name == "philox_uniform" else "eps",),
                dtypes=(torch.float32,),
            )


def _run(case: Case, inputs: list, backend: str) -> dict[str, torch.Tensor]:
    """The op's outputs and the gradients of sum(output * cotangent) in each differentiable input;
    the cotangents are drawn from a fixed seed, so every backend gets the same ones."""
    differentiable = inputs[: len(case.grads)]
    for t in differentiable:
        t.requires_grad_(True)
    outputs = case.call(inputs, backend)
    results = {name: out.detach() for name, out in zip(case.outputs, outputs, strict=True)}
    if case.grads:
        generator = torch.Generator().manual_seed(SEED + 1)
        cotangents = [torch.randn(out.shape, generator=generator, dtype=torch.float64) for out in outputs]
        total = sum((out * w.to(out.device, out.dtype)).sum() for out, w in zip(outputs, cotangents, strict=True))
        grads = torch.autograd.grad(total, differentiable)
        results.update({f"grad {name}": g for name, g in zip(case.grads, grads, strict=True)})
    return results


def _error(value: torch.Tensor, reference: torch.Tensor) -> float:
    value, reference = value.detach().cpu().double(), reference.detach().cpu().double()
    if value.shape != reference.shape:
        return math.inf
    if reference.numel() == 0:
        return 0.0
    return float((value - reference).abs().max() / max(1.0, float(reference.abs().max())))


def _tolerance(case: Case, dtype: torch.dtype, reference_error: float) -> float:
    if case.op == "philox_uniform":
        return 0.0
    if case.op == "philox_normal":
        return NORMAL_TOLERANCE
    return 2 * reference_error + max(FLOOR[dtype], case.floor)


def _declined(error: RuntimeError) -> bool:
    """Whether the op refused this backend for these inputs (as opposed to failing)."""
    return "cannot run these inputs" in str(error)


def targets(devices: list[torch.device] | None = None) -> list[tuple[torch.device, str]]:
    """(device, backend) pairs usable in this process."""
    available = fastgen.available_backends()
    if devices is None:
        devices = [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    pairs = []
    for device in devices:
        names = ("torch", "cuda", "triton") if device.type == "cuda" else ("torch", "cpp", "triton")
        for name in names:
            if name not in available:
                continue
            if name == "triton" and device.type == "cpu" and torch.cuda.is_available():
                continue  # Triton runs on CPU tensors only under the interpreter, i.e. without a GPU
            pairs.append((device, name))
    return pairs


def run(
    devices: list[torch.device] | None = None, op_names: set[str] | None = None, backend_names: set[str] | None = None
) -> list[Row]:
    """Every case on every (device, backend) pair (optionally only some ops or backends)."""
    pairs = [(d, b) for d, b in targets(devices) if not backend_names or b in backend_names]
    rows: dict[tuple, Row] = {}
    for case in cases():
        if op_names and case.op not in op_names:
            continue
        inputs = case.make(torch.Generator().manual_seed(SEED))
        for dtype in case.dtypes:
            rounded = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
            reference = _run(case, [t.double() if t.is_floating_point() else t for t in rounded], "torch")
            for device, backend in pairs:
                key = (case.op, backend, str(device), dtype)
                row = rows.setdefault(key, Row(case.op, backend, str(device), str(dtype).removeprefix("torch.")))
                on_device = [t.to(device) for t in rounded]
                try:
                    got = _run(case, [t.clone() for t in on_device], backend)
                except RuntimeError as error:
                    if _declined(error):
                        row.status, row.worst = "skip", str(error).split(": ", 2)[-1][:100]
                    else:
                        row.status, row.worst = "FAIL", f"{case.shape}: {type(error).__name__}: {error}"[:300]
                    continue
                in_dtype = _run(case, [t.clone() for t in on_device], "torch")
                for name, expected in reference.items():
                    tolerance = _tolerance(case, dtype, _error(in_dtype[name], expected))
                    row.record(_error(got[name], expected), tolerance, f"{name} {case.shape}")
    return list(rows.values())


def format_table(rows: list[Row]) -> str:
    header = ("op", "backend", "device", "dtype", "max error", "tolerance", "ok", "worst at")
    lines = [
        (r.op, r.backend, r.device, r.dtype, f"{r.error:.2e}", f"{r.tolerance:.2e}", r.status, r.worst) for r in rows
    ]
    widths = [max(len(str(line[i])) for line in (header, *lines)) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in (header, *lines)
    )
