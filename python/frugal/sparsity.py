"""Dynamic sparse training (SET, RigL, SNFS, ITOP's random_unfired) for a
torch.nn.Module, on frugal's C++ sparse::DynamicSparsity.

    sparsity = frugal.DynamicSparsity(model, optimizer, density=0.1, method="rigl",
                                      total_steps=epochs * len(loader))
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
        sparsity.step()

The C++ core chooses the masks (exact per-layer counts from the
distribution), drops and grows (exact counts, growth among inactive weights
only) and keeps the ITOP rate. This side does what only Python can: a
gradient hook on each masked weight zeroes the gradient of inactive weights
as backward produces it, so optimizer.step() never sees it (and keeps the
dense gradient when the update needs it), and the optimizer state of grown
weights is reset to its initial value. frugal.SparseLinear layers need no
masking: they hand the core a dense shadow at updates only (_sparse_layers.py).
"""


import torch

from . import _C
from . import _dist
from . import _optimizer_state
from ._sparse_layers import SparseLayers
from .sparse_linear import SparseLinear

_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_METHODS = {"static": "static", "set": "random", "random": "random", "rigl": "gradient",
            "gradient": "gradient", "snfs": "momentum", "momentum": "momentum",
            "random_unfired": "random_unfired"}


class DynamicSparsity:
    """Keeps the Linear, Conv and frugal.SparseLinear weights of `model` at
    exactly `density`.

    method: "static", "set" (random growth), "rigl" (gradient growth),
    "snfs" (momentum growth, budget redistributed), "random_unfired" (ITOP).
    distribution: "uniform", "er" or "erk". Every `update_interval` steps
    until `t_end` (share of `total_steps`), each layer drops the share
    f_t = drop_fraction/2 (1 + cos(pi t / t_end)) ("cosine" schedule; also
    "linear", "constant") of its active weights with the smallest |W| and
    grows as many. `include` / `dense_layers`: regular expressions over the
    layer (module) or parameter names; `keep_head_dense`: keep the last
    Linear (the output head) dense (default False, as in the C++ core). `seed`: the mask generator's seed
    (the same on every process of a distributed run).

    It chooses the initial masks of all its layers, SparseLinear ones
    included: those are rebuilt on their masks at once (any starting pattern
    will do). Their `values` Parameter stays the same object through every
    update, resized where the layer's count changes (SNFS), with its
    optimizer state carried over (grown entries start afresh at 0).
    """

    def __init__(self, model, optimizer, density, distribution="erk", method="rigl", drop_fraction=0.3,
                 update_interval=100, t_end=0.75, total_steps=None, *, schedule="cosine", momentum=0.9,
                 seed=0, include=(), dense_layers=(), keep_head_dense=False):
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"DynamicSparsity needs a torch.nn.Module, got {type(model).__name__}")
        if total_steps is None:
            raise ValueError("DynamicSparsity needs total_steps (the run's number of optimizer steps)")
        if method not in _METHODS:
            raise ValueError(f"unknown sparse training method '{method}' (expected one of "
                             f"{', '.join(sorted(_METHODS))})")
        self.model = model
        self.optimizer = optimizer
        self.method = _METHODS[method]
        self.total_steps = int(total_steps)
        self.t_end = float(t_end)
        self._sparse = SparseLayers()
        names, weights = [], []
        for name, module in model.named_modules():
            if isinstance(module, SparseLinear):
                names.append(name)
                weights.append(self._sparse.shadow(name, module))
            elif isinstance(module, _LAYERS) and isinstance(getattr(module, "weight", None), torch.Tensor):
                names.append(name)
                weights.append(module.weight)
        if not names:
            raise ValueError("DynamicSparsity: the model has no Linear, Conv or SparseLinear layer")
        self._core = _C.DynamicSparsity(
            names, weights, float(density), distribution=distribution, method=self.method,
            drop_fraction=float(drop_fraction), schedule=schedule, update_interval=int(update_interval),
            t_end=self.t_end, momentum=float(momentum), seed=int(seed), total_steps=self.total_steps,
            include=list(include), dense_layers=list(dense_layers), keep_head_dense=bool(keep_head_dense))
        by_name = dict(zip((f"{n}.weight" for n in names), weights))
        self.names = list(self._core.names)
        self._sparse.select(self.names)
        for i, name in enumerate(self.names):
            if self._sparse.layer(name) is not None:
                self._core.set_external(i)  # masked by its structure, not at each step
        # Per masked layer: its weight, a SparseLinear's dense shadow (current
        # only at updates; the layer itself is in layers()).
        self.weights = [by_name[n] for n in self.names]
        self.masks = list(self._core.masks)
        self._step = 0
        self._dense = [None] * len(self.weights)
        self._hooks = [w.register_hook(self._grad_hook(i)) for i, w in enumerate(self.weights)
                       if w.requires_grad]
        self._core.before_forward(False, 0, 0.0)  # zero the inactive weights now
        self._sparse.rebuild(self._mask_dict(), optimizer)
        self._sparse.ask_dense_gradient(self._needs_dense_gradient())

    # -- the per-step protocol ---------------------------------------------
    def _progress(self, step=None):
        return min(1.0, (self._step if step is None else step) / self.total_steps)

    def _needs_dense_gradient(self):
        progress = self._progress()
        if self.method == "gradient":
            return self._core.is_update_step(self._step, progress)
        return self.method == "momentum" and progress < self.t_end

    def _grad_hook(self, i):
        def hook(grad):
            if self._needs_dense_gradient():
                d = self._dense[i]
                self._dense[i] = grad.detach().clone() if d is None else d + grad.detach()
            return grad * self.masks[i]
        return hook

    def step(self):
        """Call once per training step, after optimizer.step()."""
        step, progress = self._step, self._progress()
        for w, d in zip(self.weights, self._dense):
            if d is not None and w.grad is not None:
                with torch.no_grad():
                    w.grad.copy_(d)  # the C++ side reads the dense gradient, then masks it again
        self._sparse.hand_dense_gradients()
        self._core.before_step(step, progress)
        self._dense = [None] * len(self.weights)
        _, world = _dist.world()
        if world > 1:
            for t in self._core.statistics_to_average():
                torch.distributed.all_reduce(t)
                t.div_(world)
        updates = self._core.updates
        if self._core.is_update_step(step, progress):
            self._sparse.sync_shadows()  # drop by |W| reads the layers' current weights
        self._core.after_step(step, progress)
        self._sparse.release_gradients()
        if self._core.updates != updates:
            grown = self._core.last_update()["grown"]
            for name, w, positions in zip(self.names, self.weights, grown):
                if self._sparse.layer(name) is None:
                    _optimizer_state.reset_entries(self.optimizer, w, positions)
            self._sparse.rebuild(self._mask_dict(), self.optimizer, dict(zip(self.names, grown)))
        self._step += 1
        self._sparse.ask_dense_gradient(self._needs_dense_gradient())

    def _mask_dict(self):
        return dict(zip(self.names, self.masks))

    # -- what it reports -----------------------------------------------------
    @property
    def steps(self):
        """Steps taken so far."""
        return self._step

    @property
    def updates(self):
        """Mask updates done so far."""
        return self._core.updates

    def density(self):
        """Active weights / weights, over the masked layers (exact)."""
        return self._core.density()

    def itop_rate(self, per_layer=False):
        """R_s: weights ever active / weights in the masked layers; with
        per_layer, a dict {parameter name: R_s of that layer}."""
        if per_layer:
            return dict(zip(self.names, self._core.itop_rate_per_layer()))
        return self._core.itop_rate()

    def last_update(self):
        """{"step", "drop_fraction", "dropped", "grown", "update_ms"} of the last update."""
        return self._core.last_update()

    def layers(self):
        """{parameter name: the SparseLinear layer} of the masked SparseLinear layers."""
        return {n: self._sparse.layer(n) for n in self.names if self._sparse.layer(n) is not None}

    def remove(self):
        """Removes the gradient hooks (the weights stay as they are)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []
        self._sparse.ask_dense_gradient(False)

    def state_dict(self):
        """Masks, union masks, the mask generator, the step. To resume, build
        the model, optimizer and DynamicSparsity as before, then load the
        three states in that order (building masks the weights with fresh
        initial masks; a SparseLinear's loaded pattern then meets its mask)."""
        return {"core": self._core.state_bytes(), "step": self._step}

    def load_state_dict(self, state):
        self._core.load_state_bytes(state["core"])
        self._step = int(state["step"])
        self._sparse.sync_shadows()  # the layers as loaded with the model
        self._core.before_forward(False, self._step, self._progress())  # apply the loaded masks
        self._sparse.rebuild(self._mask_dict(), self.optimizer)
        self._sparse.ask_dense_gradient(self._needs_dense_gradient())
