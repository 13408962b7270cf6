"""Pure-PyTorch implementations of every op: the specification that the compiled kernels are
tested against, and the CPU fallback when fastgen._C is not available.

One module per op (rather than one reference.py) so that each op's files sit together and
several ops can be developed at once without touching a shared file.
"""
