"""frugal: cheaper training on LibTorch, from Python.

    import frugal
    ds = frugal.InfoBatch(train_ds, num_epochs, 0.5, 0.875)
    loader = DataLoader(ds, batch_size, sampler=ds.sampler)
    ...  loss = ds.update(criterion_none(model(x), y))

The decisions (which samples an epoch keeps, which weights a layer drops and
grows) are taken by the C++ core, bound in frugal._C, so a Python run and a
C++ run with the same seed take the same ones.
"""

import torch  # noqa: F401  (loads libtorch and libtorch_python before frugal._C)

from . import _C  # noqa: E402
from .infobatch import InfoBatch, InfoBatchSampler  # noqa: E402
from .sparsity import DynamicSparsity  # noqa: E402
from .sparse_linear import SparseLinear, sparse_linear  # noqa: E402
from .pruning import Pruner  # noqa: E402
from .csr_file import load_csr, read_csr, write_csr  # noqa: E402

__all__ = ["InfoBatch", "InfoBatchSampler", "DynamicSparsity", "Pruner", "SparseLinear", "sparse_linear",
           "read_csr", "load_csr", "write_csr", "_C"]
__version__ = "0.1.0"
