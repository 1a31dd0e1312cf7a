"""Errors of the C++ core and of the Python layer reach the user as Python
exceptions with one clear line, never a crash."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import frugal


def data(n=20):
    return TensorDataset(torch.arange(n, dtype=torch.float32), torch.zeros(n))


@pytest.mark.parametrize("args, kwargs, message", [
    ((10, 0.95, 0.875), {}, "infobatch: prune_ratio must lie in [0, 0.9], got 0.95"),
    ((10, 0.5, 1.5), {}, "infobatch: delta must lie in [0, 1], got 1.5"),
    ((0,), {}, "infobatch: epochs must be >= 1, got 0"),
    ((10,), {"score_momentum": 0.0}, "infobatch: score_momentum must lie in (0, 1], got 0"),
    ((10,), {"warmup_epochs": -1}, "infobatch: warmup_epochs must be >= 0, got -1"),
    ((10,), {"rank": 2, "world_size": 2}, "infobatch: rank 2 is outside [0, 2)"),
])
def test_bad_infobatch_options_are_value_errors(args, kwargs, message):
    with pytest.raises(ValueError) as info:
        frugal.InfoBatch(data(), *args, **kwargs)
    assert str(info.value) == message


def test_update_before_iterating_is_an_error():
    ds = frugal.InfoBatch(data(), 4)
    with pytest.raises(RuntimeError, match="before iterating a DataLoader built with sampler=ds.sampler"):
        ds.update(torch.ones(4))


def test_update_needs_per_sample_losses():
    ds = frugal.InfoBatch(data(), 4)
    loader = DataLoader(ds, 4, sampler=ds.sampler)
    next(iter(loader))
    with pytest.raises(ValueError, match=r"per-sample losses .* got \(\)"):
        ds.update(torch.ones(4).mean())


def test_update_with_a_batch_that_does_not_match_the_plan_is_an_error():
    ds = frugal.InfoBatch(data(), 4)
    loader = DataLoader(ds, 4, sampler=ds.sampler)
    it = iter(loader)
    next(it)
    ds.update(torch.ones(4))
    with pytest.raises(RuntimeError, match="got 3 losses where the epoch plan expects 4"):
        ds.update(torch.ones(3))  # e.g. a filtered batch: scores would go to the wrong samples
    with pytest.raises(RuntimeError, match="got 30 losses"):
        ds.update(torch.ones(30))


def test_core_errors_keep_their_message():
    ds = frugal.InfoBatch(data(), 4)
    loader = DataLoader(ds, 4, sampler=ds.sampler)
    next(iter(loader))
    with pytest.raises(RuntimeError) as info:
        ds.update(torch.tensor([1.0, float("nan"), 1.0, 1.0]))
    assert str(info.value) == "infobatch: a per-sample loss is not finite (NaN or inf)"
    core = frugal._C.InfoBatchSampler(5, 2)
    with pytest.raises(RuntimeError, match=r"sample index 7 is outside \[0, 5\)"):
        core.update_scores(torch.tensor([7]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="number of samples must lie in"):
        frugal._C.InfoBatchSampler(0, 2)
    with pytest.raises(ValueError):
        core.load_state_bytes(b"not an archive")
