"""`fastgen selftest`: every op on every backend this machine can run, against the reference.

For each registered op (``fastgen.ops.registry()``), the shapes and inputs of its cases (stated
with the op: fastgen/ops/_cases.py, shared with the contract suite), every dtype and every
(device, backend) pair usable here
(the CPU with ``cpp`` and ``torch``, and ``triton`` under ``TRITON_INTERPRET=1``; each visible GPU
with ``cuda``, ``triton`` and ``torch``), the op's outputs and the gradients of every
differentiable input are compared with the reference (``backend="torch"``) run on the CPU in
float64 on the same (dtype-rounded) inputs and seed.

Tolerance, per output (flash-attention's rule): the backend's error may be at most twice the
error of the reference itself run in that dtype on that device, plus a floor of a few units in
the last place of the dtype (``FLOOR``: float32 results differ from float64 by the order of the
summations), or the op's own ``atol`` where that is larger (the ulp differences of Philox
normals: log, sin and cos differ between math libraries). Errors are relative to the output's
magnitude: ``max |out - ref| / max(1, max |ref|)``. The Philox draws take int64 offsets, which
have no rounding and no floor: uniforms must be bit-identical on every backend (tolerance 0).
A backend that declines a dtype (Triton has no float64 kernels) is listed as skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

import fastgen
from fastgen.ops import registry
from fastgen.ops._cases import OpCases

OPS = tuple(op.name for op in registry())
# A few ulp at the values' scale (see the module docstring); integer inputs (the Philox draws'
# offsets) are summed nowhere, so their ops get no floor: only their own atol.
FLOOR = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.int64: 0.0}


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


def cases() -> list[OpCases]:
    """Every registered op's cases (stated with the op: fastgen/ops/_cases.py)."""
    return [op.cases for op in registry()]


def _shape_name(shape) -> str:
    return str(shape).replace(" ", "").replace("(", "[").replace(")", "]").replace(",]", "]")


def _run(case: OpCases, inputs: list, backend: str) -> dict[str, torch.Tensor]:
    """The op's outputs and the gradients of sum(output * cotangent) in each differentiable input;
    the cotangents are drawn from a fixed seed, so every backend gets the same ones."""
    differentiable = [inputs[i] for i in case.differentiable]
    for t in differentiable:
        t.requires_grad_(True)
    outputs = case.call(inputs, backend)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    results = {name: out.detach() for name, out in zip(case.outputs, outputs, strict=True)}
    if case.grads:
        generator = torch.Generator().manual_seed(1)
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


def _tolerance(case: OpCases, dtype: torch.dtype, reference_error: float) -> float:
    return 2 * reference_error + max(FLOOR[dtype], case.atol)


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
        if op_names and case.name not in op_names:
            continue
        for shape in case.shapes:
            inputs = case.make(shape, torch.Generator().manual_seed(0))
            for dtype in case.dtypes:
                _compare(case, _shape_name(shape), inputs, dtype, pairs, rows)
    return list(rows.values())


def _compare(case: OpCases, shape: str, inputs: list, dtype: torch.dtype, pairs: list, rows: dict) -> None:
    """One shape in one dtype on every (device, backend) pair, recorded in ``rows``."""
    rounded = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
    reference = _run(case, [t.double() if t.is_floating_point() else t for t in rounded], "torch")
    for device, backend in pairs:
        key = (case.name, backend, str(device), dtype)
        row = rows.setdefault(key, Row(case.name, backend, str(device), str(dtype).removeprefix("torch.")))
        if row.status == "skip":
            continue
        on_device = [t.to(device) for t in rounded]
        try:
            got = _run(case, [t.clone() for t in on_device], backend)
        except RuntimeError as error:
            if _declined(error):
                row.status, row.worst = "skip", str(error).split(": ", 2)[-1][:100]
            else:
                row.status, row.worst = "FAIL", f"{shape}: {type(error).__name__}: {error}"[:300]
            continue
        in_dtype = _run(case, [t.clone() for t in on_device], "torch")
        for name, expected in reference.items():
            tolerance = _tolerance(case, dtype, _error(in_dtype[name], expected))
            row.record(_error(got[name], expected), tolerance, f"{name} {shape}")


def format_table(rows: list[Row]) -> str:
    header = ("op", "backend", "device", "dtype", "max error", "tolerance", "ok", "worst at")
    lines = [
        (r.op, r.backend, r.device, r.dtype, f"{r.error:.2e}", f"{r.tolerance:.2e}", r.status, r.worst) for r in rows
    ]
    widths = [max(len(str(line[i])) for line in (header, *lines)) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in (header, *lines)
    )
