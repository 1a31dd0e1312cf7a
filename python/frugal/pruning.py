"""Score-based pruning while fine-tuning, for any torch.nn.Module, on frugal's
C++ prune::Pruner: magnitude (AGP/GMP under the cubic schedule, or one-shot),
movement, soft movement, L0 (hard-concrete).

    pruner = frugal.Pruner(model, "movement", final_remaining=0.1, total_steps=T)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5)
    pruner.add_score_group(optimizer)          # scores: lr=score_lr, no weight decay
    for x, y in loader:
        loss = criterion(model(x), y) + pruner.regularizer()
        optimizer.zero_grad(); loss.backward(); optimizer.step(); pruner.step()
    pruner.bake()                              # W <- W * M: an ordinary model

The model's code and forward signature stay as they are. A forward pre-hook
on the model asks the C++ pruner for the masked weights W' = f(W, S) (with
autograd to W and to the scores S) and puts each in its layer's instance
dictionary, so `layer.weight` reads W' in the layer's forward while the
registered parameter (named_parameters(), state_dict(), the optimizer) stays
the plain W. bake() folds the masks into W and removes all of this.
"""

import torch

from . import _C

_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


class Pruner:
    """Prunes the Linear and Conv weights of `model` chosen by `include` /
    `dense` (regular expressions over module or parameter names; with
    keep_head_dense=True the last Linear, the output head, stays dense; the
    default prunes it too, as the C++ core does).

    method: "magnitude", "movement", "soft_movement" or "l0". The share of
    weights remaining follows the cubic schedule from `initial_remaining` to
    `final_remaining` with `warmup` and `cooldown` (shares of `total_steps`);
    soft movement ramps its threshold from `initial_threshold` to
    `final_threshold` and lambda with it; L0 uses `lambda_` (default 125).
    """

    def __init__(self, model, method="movement", *, total_steps, final_remaining=0.1, initial_remaining=1.0,
                 warmup=0.1, cooldown=0.2, selection="local", one_shot=False, score_lr=1e-2, score_init=None,
                 initial_threshold=0.0, final_threshold=0.1, lambda_=None, regularizer_norm="per_tensor",
                 include=(), dense=(), keep_head_dense=False, seed=0):
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"Pruner needs a torch.nn.Module, got {type(model).__name__}")
        names, weights, modules = [], [], {}
        for name, module in model.named_modules():
            if isinstance(module, _LAYERS) and isinstance(getattr(module, "weight", None), torch.Tensor):
                names.append(name)
                weights.append(module.weight)
                modules[name + ".weight"] = module
        if not names:
            raise ValueError("Pruner: the model has no Linear or Conv layer")
        self.model = model
        self.score_lr = float(score_lr)
        self._core = _C.Pruner(
            names, weights, method, int(total_steps), selection=selection,
            initial_remaining=float(initial_remaining), final_remaining=float(final_remaining),
            warmup=float(warmup), cooldown=float(cooldown), one_shot=bool(one_shot), score_lr=self.score_lr,
            score_init=score_init, initial_threshold=float(initial_threshold),
            final_threshold=float(final_threshold), lambda_=lambda_, regularizer_norm=regularizer_norm,
            include=list(include), dense=list(dense), keep_head_dense=bool(keep_head_dense), seed=int(seed))
        self.names = list(self._core.pruned_names)
        self._modules = [modules[n] for n in self.names]
        self._step = 0
        self._hook = model.register_forward_pre_hook(self._install)

    def _install(self, module, inputs):
        for layer, weight in zip(self._modules, self._core.before_forward(self.model.training, self._step)):
            layer.__dict__["weight"] = weight  # shadows the parameter for attribute reads only

    def _uninstall(self):
        for layer in self._modules:
            layer.__dict__.pop("weight", None)

    def score_parameters(self):
        """The learned scores (movement, soft movement, L0), one per pruned weight."""
        return list(self._core.score_parameters())

    def add_score_group(self, optimizer):
        """Adds the scores to `optimizer` as their own group: lr=score_lr, weight_decay=0."""
        scores = self.score_parameters()
        if scores:
            optimizer.add_param_group({"params": scores, "lr": self.score_lr, "weight_decay": 0.0})

    def regularizer(self):
        """lambda_t * R(S) to add to the loss (soft movement, L0); 0 for the others."""
        r = self._core.regularizer(self._step)
        return torch.zeros(()) if r is None else r

    def step(self):
        """Call once per training step, after optimizer.step()."""
        self._core.after_step(self._step)
        self._step += 1

    @property
    def steps(self):
        return self._step

    def target_remaining(self):
        """v_t: the share of weights the top-v methods keep now."""
        return self._core.target_remaining(self._step)

    def threshold(self):
        return self._core.threshold(self._step)

    def lambda_(self):
        return self._core.lambda_(self._step)

    def remaining(self):
        """{"layers": {name: (kept, total)}, "kept", "total", "share"} of the pruned weights."""
        return self._core.remaining()

    def masks(self):
        """{name: bool mask} at the last position a forward saw."""
        return dict(zip(self.names, self._core.masks()))

    def bake(self):
        """W <- W * M in place, removes the hook: `model` is then an ordinary
        model whose outputs equal the masked model's. Returns remaining()."""
        report = self._core.bake()
        self._hook.remove()
        self._uninstall()
        return report

    def state_dict(self):
        return {"core": self._core.state_bytes(), "step": self._step}

    def load_state_dict(self, state):
        self._core.load_state_bytes(state["core"])
        self._step = int(state["step"])
