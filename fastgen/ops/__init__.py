"""fastgen's fused ops. Each takes ``backend=`` (see ``fastgen.backends``) and has a pure-PyTorch
reference in ``fastgen.ops.reference``.

Every public module of this package is imported here and its ``__all__`` exported, so an op's
module is all there is to add for a new op: importing ``fastgen.ops`` registers every op
(``fastgen.ops.registry()``, fastgen/ops/_registry.py), and its public functions are
``fastgen.ops.<name>``.
"""

import importlib
import pkgutil

from fastgen.ops._registry import registry

__all__ = ["registry"]


def _export_public_modules() -> None:
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_") or module_info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for name in getattr(module, "__all__", ()):
            globals()[name] = getattr(module, name)
            __all__.append(name)


_export_public_modules()
__all__.sort()
