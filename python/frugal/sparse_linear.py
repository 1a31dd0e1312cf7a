"""A Linear layer stored and multiplied sparse (CSR) on frugal's C++ kernels.

    layer = frugal.SparseLinear.from_dense(linear, mask)   # mask: bool [out, in]

Forward is a sparse x dense product, the input gradient the same through the
transposed pattern, and the weight gradient is computed at the stored
positions only. Outputs and gradients equal those of the masked dense layer
(float32, CPU); only the stored weights ("values") are parameters.
"""

import torch

from . import _C


class _SparseLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, values, bias, pattern, dense_grad_layer):
        ctx.pattern = pattern
        ctx.has_bias = bias is not None
        ctx.dense_grad_layer = dense_grad_layer
        ctx.save_for_backward(x, values)
        return _C.sparse_linear(x, values, pattern, bias)

    @staticmethod
    def backward(ctx, grad_y):
        x, values = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        grad_x = grad_values = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _C.sparse_linear_input_grad(grad_y, values, ctx.pattern)
        if ctx.needs_input_grad[1]:
            layer = ctx.dense_grad_layer
            if layer is None:
                grad_values = _C.sparse_linear_values_grad(grad_y, x, ctx.pattern)
            else:
                # The full gradient grad_y^T x (RigL's growth criterion), one
                # dense product; the stored entries' gradient is read from it.
                dense = grad_y.reshape(-1, ctx.pattern.rows).t().mm(x.reshape(-1, ctx.pattern.cols))
                kept = layer.dense_weight_grad  # summed over backwards, as .grad is
                layer.dense_weight_grad = dense if kept is None else kept + dense
                grad_values = dense.view(-1).index_select(0, ctx.pattern.flat_indices())
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_y.reshape(-1, grad_y.shape[-1]).sum(0)
        return grad_x, grad_values, grad_bias, None, None


def sparse_linear(x, values, pattern, bias=None):
    """y = x W^T + bias, W given by (values [nnz], pattern: frugal._C.CsrPattern)."""
    return _SparseLinearFunction.apply(x, values, bias, pattern, None)


class SparseLinear(torch.nn.Module):
    """y = x W^T + b with W [out, in] in CSR. Parameters: "values" [nnz] and
    "bias" [out] (or none); buffers "row_ptr" (int64 [out + 1]) and "col_idx"
    (int32 [nnz]), so state_dict() holds the pattern.

    keep_dense_grad: while True, backward also computes the dense weight
    gradient [out, in] and adds it to `dense_weight_grad` (frugal.DynamicSparsity
    sets it for RigL's update steps only; a normal step never forms it)."""

    def __init__(self, in_features, out_features, mask=None, bias=True):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        if mask is None:
            mask = torch.ones(self.out_features, self.in_features, dtype=torch.bool)
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != (self.out_features, self.in_features):
            raise ValueError(f"SparseLinear: mask must have shape [{self.out_features}, {self.in_features}] "
                             f"([out_features, in_features]), got {list(mask.shape)}")
        pattern = _C.CsrPattern.from_mask(mask)
        self.register_buffer("row_ptr", pattern.row_ptr.clone())
        self.register_buffer("col_idx", pattern.col_idx.clone())
        bound = 1.0 / max(1, self.in_features) ** 0.5
        self.values = torch.nn.Parameter(torch.empty(pattern.nnz).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(self.out_features).uniform_(-bound, bound)) if bias else None
        self._pattern = None
        self._stamp = None
        self.keep_dense_grad = False
        self.dense_weight_grad = None

    @classmethod
    def from_dense(cls, linear, mask=None):
        """The layer with `linear`'s weights on `mask` (bool [out, in]; default:
        the non-zeros of linear.weight) and its bias."""
        if not isinstance(linear, torch.nn.Linear):
            raise ValueError(f"SparseLinear.from_dense needs a torch.nn.Linear, got {type(linear).__name__}")
        weight = linear.weight.detach()
        if weight.dtype != torch.float32 or weight.device.type != "cpu":
            raise ValueError(f"SparseLinear runs on float32 CPU weights, got {weight.dtype} on {weight.device}")
        if mask is None:
            mask = weight != 0
        layer = cls(linear.in_features, linear.out_features, mask, bias=linear.bias is not None)
        with torch.no_grad():
            layer.values.copy_(_C.csr_values(weight, layer.pattern))
            if linear.bias is not None:
                layer.bias.copy_(linear.bias.detach())
        return layer

    @property
    def pattern(self):
        """The CSR pattern (rebuilt when the buffers were replaced, e.g. by load_state_dict)."""
        stamp = (self.row_ptr.data_ptr(), self.col_idx.data_ptr(), self.row_ptr._version,
                 self.col_idx._version, self.col_idx.numel())
        if self._pattern is None or stamp != self._stamp:
            self._pattern = _C.CsrPattern(self.row_ptr, self.col_idx, self.in_features)
            self._stamp = stamp
        return self._pattern

    def __getstate__(self):
        # The cached C++ pattern does not pickle (copy.deepcopy, torch.save of
        # the module): it is rebuilt from the buffers on first use.
        state = self.__dict__.copy()
        state["_pattern"] = state["_stamp"] = None
        return state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A saved pattern may hold another number of entries: take its sizes.
        values, col_idx = state_dict.get(prefix + "values"), state_dict.get(prefix + "col_idx")
        if values is not None and values.shape != self.values.shape:
            self.values.data = self.values.data.new_empty(values.shape)
        if col_idx is not None and col_idx.shape != self.col_idx.shape:
            self.col_idx = self.col_idx.new_empty(col_idx.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x):
        return _SparseLinearFunction.apply(x, self.values, self.bias, self.pattern,
                                           self if self.keep_dense_grad else None)

    def set_mask(self, mask, weight):
        """Takes the non-zeros of `mask` (bool [out, in]) as the pattern and the
        values from `weight` (dense [out, in]) on it. The `values` Parameter
        stays the same object (an optimizer holding it keeps training it),
        resized when the number of entries changes; its gradient is cleared.
        Returns, per new entry, the index of the same position among the
        previous entries or -1 (int64 [nnz]), to carry per-entry state over."""
        previous = self.pattern
        pattern = _C.CsrPattern.from_mask(mask)
        with torch.no_grad():
            values = _C.csr_values(weight, pattern)
            if values.shape == self.values.shape:
                self.values.copy_(values)
            else:
                self.values.data = values
        self.values.grad = None
        self.row_ptr = pattern.row_ptr.clone()
        self.col_idx = pattern.col_idx.clone()
        self._pattern = None
        return _C.pattern_source(previous, self.pattern)

    def to_dense(self):
        """The weight as a dense [out, in] tensor (zeros off the pattern)."""
        return _C.csr_to_dense(self.values.detach(), self.pattern)

    def mask(self):
        return self.pattern.to_mask()

    def density(self):
        return self.pattern.density

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, density={self.density():.4f}")
