"""The CSR export file (`weights.csr`, written by `frugal export`) from Python.

    weights = frugal.read_csr("runs/r/export/weights.csr")   # {name: sparse CSR tensor}
    frugal.load_csr(model, "runs/r/export/weights.csr")      # into a torch.nn.Module
    frugal.write_csr("pruned.csr", model)                    # the same format back

Each entry is the weight's matrix view [out, in * k...] (a Linear's weight as
it is, a Conv weight with its kernel dimensions folded into the columns), in
the format documented in include/frugal/prune/export.h; the file carries its
own checks, and a corrupt one raises ValueError naming the file.
"""

import torch

from . import _C


def read_csr(path):
    """{parameter name: torch.sparse_csr_tensor [rows, cols]} of the file at `path`."""
    return {name: matrix for name, _, matrix in _C.read_csr(str(path))}


def load_csr(model, path):
    """Copies every weight of the file into the parameter of the same name of
    `model` (zeros off the stored entries). Raises ValueError, before changing
    anything, when a name is not a parameter of the model or a shape differs."""
    params = dict(model.named_parameters())
    entries = _C.read_csr(str(path))
    for name, shape, _ in entries:
        if name not in params:
            raise ValueError(f"{path}: '{name}' is not a parameter of the model")
        if list(params[name].shape) != list(shape):
            raise ValueError(f"{path}: '{name}' has shape {list(shape)} but the model's is "
                             f"{list(params[name].shape)}")
    with torch.no_grad():
        for name, shape, matrix in entries:
            params[name].copy_(matrix.to_dense().view(shape))


def write_csr(path, model, names=None):
    """Writes the weights of `model` (its Linear and Conv weights, or the
    parameters named in `names`) to `path` in CSR: the non-zeros only."""
    params = dict(model.named_parameters())
    if names is None:
        layers = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
        names = [f"{n}.weight" if n else "weight" for n, m in model.named_modules() if isinstance(m, layers)]
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"write_csr: the model has no parameter {', '.join(repr(n) for n in missing)}")
    _C.write_csr(str(path), [(n, params[n].detach().cpu()) for n in names])
