"""Triton kernels. Each op here is its own torch custom op (``fastgen::<op>_triton``, through
``torch.library.triton_op``) with its own fake, autograd and opcheck; the modules are imported
only when triton is importable."""
