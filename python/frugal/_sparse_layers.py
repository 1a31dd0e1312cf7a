"""The frugal.SparseLinear layers that a frugal.DynamicSparsity trains.

The C++ core masks, drops and grows dense weight tensors. Each SparseLinear
gives it a dense shadow weight [out, in] in its place. Between updates the
layer is structurally sparse and trains alone: the optimizer steps its
values [nnz] and nothing here touches it. Only around an update (and at the
start and at a load) the two meet: the shadow takes the layer's current
weights, the core drops by |W| and grows on it, and the layer is rebuilt
from the new mask, its per-entry optimizer state carried over. The core
holds the shadows as external layers (DynamicSparsity::set_external), so it
does not mask them at each step either. RigL's growth criterion, the dense
gradient, is formed by the layer's backward on update steps only (SNFS:
every step until T_end, for its momentum).
"""

import torch

from . import _optimizer_state


class SparseLayers:
    def __init__(self):
        self._layers = {}  # parameter name ("<module>.weight") -> (layer, shadow)
        self._asked = None  # what ask_dense_gradient() last asked for
        self._handed = False  # whether the shadows hold gradients

    def shadow(self, module_name, layer):
        """The dense weight the core holds for `layer`."""
        shadow = layer.to_dense().contiguous()
        self._layers[f"{module_name}.weight"] = (layer, shadow)
        return shadow

    def select(self, names):
        """Keeps the layers the core masks (include / dense_layers patterns)."""
        self._layers = {n: self._layers[n] for n in names if n in self._layers}

    def layer(self, name):
        entry = self._layers.get(name)
        return entry[0] if entry else None

    def sync_shadows(self):
        """shadow <- the layer's weights (zero off its pattern)."""
        with torch.no_grad():
            for layer, shadow in self._layers.values():
                shadow.copy_(layer.to_dense())

    # The three below run at every step: between updates they return at once
    # (a Module attribute set costs ~4 us).
    def ask_dense_gradient(self, wanted):
        """Whether the next backwards form the dense weight gradient."""
        if wanted == self._asked:
            return
        for layer, _ in self._layers.values():
            layer.keep_dense_grad = wanted
            layer.dense_weight_grad = None
        self._asked = wanted

    def hand_dense_gradients(self):
        """shadow.grad <- the dense gradient of this step (None when not formed)."""
        if not self._asked:
            return
        for layer, shadow in self._layers.values():
            shadow.grad = layer.dense_weight_grad
            layer.dense_weight_grad = None
        self._handed = True

    def release_gradients(self):
        if self._handed:
            for _, shadow in self._layers.values():
                shadow.grad = None
            self._handed = False

    def rebuild(self, masks, optimizer, grown=None):
        """Each layer takes its mask ({name: bool [out, in]}) as pattern and the
        shadow's weights on it; its values Parameter stays the same object.
        Optimizer state: entries that survive keep theirs; entries new to the
        pattern, and those grown now ({name: flat positions}) even where a weight
        was dropped and grown again in place, start from the initial value."""
        for name, (layer, shadow) in self._layers.items():
            entries = _optimizer_state.per_entry_state(optimizer, layer.values)
            source = layer.set_mask(masks[name], shadow)
            positions = None if grown is None else grown.get(name)
            if positions is not None and positions.numel():
                fresh = torch.zeros(shadow.numel(), dtype=torch.bool)
                fresh[positions] = True  # (a bool scatter: 30x faster than torch.isin here)
                source[fresh[layer.pattern.flat_indices()]] = -1
            if entries:
                _optimizer_state.remap_entries(optimizer, layer.values, entries, source)
