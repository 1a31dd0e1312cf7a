import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import frugal

N, BATCH = 60, 8


def make_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    index = torch.arange(N, dtype=torch.float32)
    feature = torch.randn(N, generator=g)
    target = 3 * feature + 0.5 * torch.randn(N, generator=g)
    # Column 0 carries the sample's index, so the test sees what was forwarded.
    return TensorDataset(torch.stack([index, feature], 1), target)


def expected_plan(scores, prune_ratio, prunes):
    """What the method says an epoch keeps: (kept count, below-mean bool)."""
    scores = np.asarray(scores, dtype=np.float64)
    below = scores < scores.mean() if prunes else np.zeros(len(scores), bool)
    n_below = int(below.sum())
    return len(scores) - n_below + math.floor((1 - prune_ratio) * n_below + 1e-9), below


def run_official_loop(num_workers, num_epochs=7, delta=0.875):
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    criterion_none = torch.nn.MSELoss(reduction="none")
    ds = frugal.InfoBatch(make_data(), num_epochs, 0.5, delta)
    loader = DataLoader(ds, BATCH, sampler=ds.sampler, num_workers=num_workers)
    stop = math.floor(delta * num_epochs + 1e-9)
    assert ds.stop_prune == stop
    for epoch in range(num_epochs):
        scores = ds.scores.numpy().copy()
        prunes = 0 < epoch < stop  # epoch 0: equal scores, nothing below the mean
        kept, below = expected_plan(scores, 0.5, epoch < stop)
        assert len(loader) == math.ceil(kept / BATCH), f"epoch {epoch}: len(loader) before the epoch"
        seen = []
        for x, y in loader:
            index = x[:, 0].long()
            per_sample = criterion_none(model(x[:, 1:]).squeeze(1), y)
            loss = ds.update(per_sample)
            weights = torch.ones(len(index))
            weights[torch.as_tensor(below[index.numpy()])] = 2.0
            torch.testing.assert_close(loss, (per_sample * weights).mean())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += index.tolist()
        assert len(seen) == len(set(seen)) == kept, f"epoch {epoch}"
        # Every sample at or above the mean is trained on.
        assert set(np.flatnonzero(~below)) <= set(seen)
        if epoch == 0 or epoch >= stop:
            assert sorted(seen) == list(range(N))
            assert torch.all(ds.weights == 1)
        if prunes:
            assert kept < N
    return ds


@pytest.mark.parametrize("num_workers", [0, 2])
def test_official_three_line_loop_forwards_exact_counts(num_workers):
    run_official_loop(num_workers)


def test_annealing_resets_weights_when_delta_times_epochs_is_not_an_integer():
    # 0.875 * 7 = 6.125: epochs 0..5 prune, epoch 6 trains on all with weight 1
    # (the reference's float == never resets the weights here).
    ds = run_official_loop(0, num_epochs=7, delta=0.875)
    assert ds.stop_prune == 6
    assert torch.all(ds.weights == 1) and ds.kept == N


def test_python_infobatch_and_cpp_sampler_take_the_same_decisions():
    values = torch.rand(N, generator=torch.Generator().manual_seed(5)) + 0.1
    data = TensorDataset(torch.stack([torch.arange(N, dtype=torch.float32), values], 1), torch.zeros(N))
    ds = frugal.InfoBatch(data, 6, 0.5, 0.875, seed=11)
    loader = DataLoader(ds, BATCH, sampler=ds.sampler)
    for x, _ in loader:  # epoch 0: every sample's score becomes its value
        ds.update(x[:, 1].clone())
    order = [int(i) for x, _ in loader for i in x[:, 0]]  # epoch 1, as the loop sees it
    cpp = frugal._C.InfoBatchSampler(N, 6, 0.5, 0.875, seed=11)
    cpp.update_scores(torch.arange(N), values)
    cpp.begin_epoch(1)
    assert order == cpp.order().tolist()
    assert torch.equal(ds.weights, cpp.weights)
    assert cpp.kept < N


def test_len_is_the_planned_epochs_and_mid_epoch_len_does_not_replan():
    ds = frugal.InfoBatch(make_data(), 4, 0.5, 0.875)
    loader = DataLoader(ds, BATCH, sampler=ds.sampler)
    for epoch in range(3):
        n = len(loader)
        for i, (x, y) in enumerate(loader):
            assert len(loader) == n  # e.g. a progress bar or an lr schedule reading it
            ds.update((x[:, 1] - y) ** 2)
        assert i + 1 == n
        assert ds.sampler.epoch == epoch


def test_drop_last_loader_has_the_next_epochs_len_before_it():
    ds = frugal.InfoBatch(make_data(), 4, 0.5, 0.875, drop_last=True)
    loader = DataLoader(ds, BATCH, sampler=ds.sampler, drop_last=True)
    for epoch in range(3):
        n = len(loader)
        batches = 0
        for x, y in loader:
            ds.update((x[:, 1] - y) ** 2)
            batches += 1
        assert batches == n, f"epoch {epoch}: len(loader) was {n} before an epoch of {batches} batches"
        assert ds.sampler.epoch == epoch
    # Epoch 1 pruned (N = 60 is not a multiple of 8 in every epoch), so the check saw new plans.
    assert len(ds.sampler.order) < N


def test_a_dropped_tail_without_drop_last_is_named_in_a_warning():
    ds = frugal.InfoBatch(make_data(), 4, 0.5, 0.875)
    loader = DataLoader(ds, BATCH, sampler=ds.sampler, drop_last=True)
    for x, y in loader:
        ds.update((x[:, 1] - y) ** 2)
    with pytest.warns(UserWarning, match="drop_last=True"):
        next(iter(loader))


def test_own_random_stream_leaves_global_generators_alone():
    np.random.seed(1)
    torch.manual_seed(1)
    state_np, state_torch = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    ds = frugal.InfoBatch(make_data(), 4, 0.5, 0.875, seed=3)
    for _ in range(3):
        order = list(ds.sampler)
        ds.update(torch.rand(len(order), generator=torch.Generator().manual_seed(2)))
    assert np.array_equal(np.random.get_state()[1], state_np)
    assert torch.equal(torch.get_rng_state(), state_torch)


def test_state_dict_round_trip_continues_identically():
    def epoch(ds, loader, losses):
        out = []
        for x, _ in loader:
            ds.update(losses[x[:, 0].long()])
            out += x[:, 0].long().tolist()
        return out

    losses = torch.rand(N, generator=torch.Generator().manual_seed(4))
    a = frugal.InfoBatch(make_data(), 6, 0.5, 0.875, seed=7, score_momentum=0.5, warmup_epochs=1)
    la = DataLoader(a, BATCH, sampler=a.sampler)
    for _ in range(2):
        epoch(a, la, losses)
    b = frugal.InfoBatch(make_data(), 6, 0.5, 0.875, seed=7, score_momentum=0.5, warmup_epochs=1)
    b.load_state_dict(a.state_dict())
    lb = DataLoader(b, BATCH, sampler=b.sampler)
    for _ in range(3):
        assert epoch(a, la, losses * 2) == epoch(b, lb, losses * 2)
        assert torch.equal(a.scores, b.scores) and torch.equal(a.weights, b.weights)


def test_warmup_epochs_train_on_everything():
    ds = frugal.InfoBatch(make_data(), 6, 0.5, 0.875, warmup_epochs=2)
    losses = torch.rand(N, generator=torch.Generator().manual_seed(4))
    for epoch in range(3):
        order = list(ds.sampler)
        ds.update(losses[torch.tensor(order)])
        assert (len(order) == N) == (epoch < 2)


def test_pickled_copy_for_spawned_workers_reads_items():
    import pickle

    data = make_data()
    ds = frugal.InfoBatch(data, 4)
    copy = pickle.loads(pickle.dumps(ds))
    assert torch.equal(copy[5][0], data[5][0]) and len(copy) == N
