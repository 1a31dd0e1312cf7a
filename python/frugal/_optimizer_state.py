"""Per-entry optimizer state across a mask update (SGD momentum, Adam
moments, RMSprop averages, Adagrad's sum), as the C++ core's
sparse/optimizer_state does for C++ optimizers: a grown weight starts from
the state a fresh optimizer gives it; a surviving one keeps its own."""

import torch


def _initial(optimizer, param, key):
    """What a fresh optimizer holds for one entry of `key` (Adagrad's sum
    starts at initial_accumulator_value, everything else at 0)."""
    if key != "sum":
        return 0.0
    for group in optimizer.param_groups:
        if any(p is param for p in group["params"]):
            return float(group.get("initial_accumulator_value", 0.0))
    return 0.0


def per_entry_state(optimizer, param):
    """{key: tensor} of `param`'s state holding one value per entry of it
    (same shape); scalars such as Adam's step are left out."""
    state = optimizer.state.get(param) if optimizer is not None else None
    if not state:
        return {}
    return {k: v for k, v in state.items() if torch.is_tensor(v) and v.shape == param.shape}


def reset_entries(optimizer, param, positions):
    """The state of `param` at flat `positions` back to its initial value."""
    if positions.numel() == 0:
        return
    with torch.no_grad():
        for key, value in per_entry_state(optimizer, param).items():
            value.view(-1).index_fill_(0, positions.to(value.device), _initial(optimizer, param, key))


def remap_entries(optimizer, param, entries, source):
    """After `param` took a new pattern: entry k's state is entries[key][source[k]],
    or the initial value where source[k] == -1. `entries`: per_entry_state()
    taken before the change."""
    kept = source >= 0
    with torch.no_grad():
        for key, old in entries.items():
            new = old.new_full(source.shape, _initial(optimizer, param, key))
            new[kept] = old.view(-1)[source[kept]]
            if new.shape == old.shape:
                old.copy_(new)
            else:
                optimizer.state[param][key] = new
