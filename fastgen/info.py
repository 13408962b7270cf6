"""build_info(): what this installation of fastgen can do."""

from __future__ import annotations

import torch

from fastgen import _extension, backends


def build_info() -> dict:
    """Package and torch versions, compiled backends (with CUDA archs), triton, GPU."""
    compiled = _extension.compiled_info()
    config = _extension.build_config
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "fastgen": compiled.get("version") or (config.version if config else "unbuilt"),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "built_against_torch": config.torch_version if config else None,
        "extension_loaded": _extension.C is not None,
        "extension_error": _extension.load_error,
        "cpp": _extension.C is not None,
        "cpp_threads": f"{torch.get_num_threads()} (OpenMP)" if compiled.get("openmp") else "1 (built without OpenMP)",
        "cuda": bool(compiled.get("cuda")),
        "cuda_archs": compiled.get("cuda_archs"),
        "triton": backends.triton_importable(),
        "triton_interpret": backends.triton_interpreted(),
        "gpu": gpu,
        "available_backends": list(backends.available_backends()),
    }


def format_build_info(info: dict | None = None) -> str:
    info = build_info() if info is None else info
    width = max(len(key) for key in info)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in info.items())
