"""fastgen's fused ops. Each takes ``backend=`` (see ``fastgen.backends``) and has a pure-PyTorch
reference in ``fastgen.ops.reference``."""

from fastgen.ops.corrupt_encode import corrupt_encode
from fastgen.ops.covariance import covariance
from fastgen.ops.ls_loss import ls_discriminator_loss, ls_generator_loss
from fastgen.ops.random import philox_normal, philox_uniform
from fastgen.ops.reparameterize import reparameterize
from fastgen.ops.seeds import last_seed

__all__ = [
    "corrupt_encode",
    "covariance",
    "last_seed",
    "ls_discriminator_loss",
    "ls_generator_loss",
    "philox_normal",
    "philox_uniform",
    "reparameterize",
]
