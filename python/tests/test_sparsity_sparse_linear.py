"""frugal.DynamicSparsity on frugal.SparseLinear layers: the same run as on
masked nn.Linear layers (masks, weights, optimizer state), with the layers
structurally sparse between updates."""

import copy

import pytest
import torch

import frugal

METHODS = ["rigl", "set", "snfs", "random_unfired", "static"]


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 40), torch.nn.ReLU(), torch.nn.Linear(40, 30),
                               torch.nn.ReLU(), torch.nn.Linear(30, 5))


def with_sparse_layers(model, which):
    """A copy of `model` whose Linear layers at indices `which` are SparseLinear
    with the same weights (full pattern: DynamicSparsity chooses the masks)."""
    model = copy.deepcopy(model)
    for i in which:
        layer = model[i]
        model[i] = frugal.SparseLinear.from_dense(layer, torch.ones_like(layer.weight, dtype=torch.bool))
    return model


def dense_weight(layer):
    return layer.to_dense() if isinstance(layer, frugal.SparseLinear) else layer.weight.detach()


def make_optimizer(kind, model):
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    return torch.optim.Adam(model.parameters(), lr=0.01)


def train(model, optimizer, sparsity, steps, seed, after_step):
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x, t = torch.randn(16, 20, generator=g), torch.randn(16, 5, generator=g)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), t).backward()
        optimizer.step()
        sparsity.step()
        after_step(step)


@pytest.mark.parametrize("optimizer_kind", ["sgd", "adam"])
@pytest.mark.parametrize("which", [(0, 2, 4), (2,)], ids=["all_sparse", "mixed"])
@pytest.mark.parametrize("method", METHODS)
def test_the_same_run_as_on_masked_linear_layers(method, which, optimizer_kind):
    reference = mlp()
    model = with_sparse_layers(reference, which)
    opt_ref, opt = make_optimizer(optimizer_kind, reference), make_optimizer(optimizer_kind, model)
    kwargs = dict(method=method, update_interval=3, total_steps=30, seed=7)
    s_ref = frugal.DynamicSparsity(reference, opt_ref, 0.2, **kwargs)
    s = frugal.DynamicSparsity(model, opt, 0.2, **kwargs)
    assert s.names == s_ref.names
    values = {i: model[i].values for i in which}

    def compare(step):
        assert s.updates == s_ref.updates
        for name, m_ref, m in zip(s.names, s_ref.masks, s.masks):
            assert torch.equal(m, m_ref), f"step {step}: the masks of {name} differ"
        assert s.density() == s_ref.density()
        for i in (0, 2, 4):
            torch.testing.assert_close(dense_weight(model[i]), dense_weight(reference[i]), rtol=1e-4, atol=1e-5,
                                       msg=lambda m: f"step {step}, layer {i}: {m}")
            torch.testing.assert_close(model[i].bias, reference[i].bias, rtol=1e-4, atol=1e-5)
        for i in which:
            layer = model[i]
            assert layer.values is values[i], "the optimizer's values Parameter must stay the same object"
            assert torch.equal(layer.mask(), s.masks[s.names.index(f"{i}.weight")])
            # Per-entry optimizer state: the masked layer's at the active
            # positions (surviving entries kept theirs, grown ones restarted).
            flat = layer.pattern.flat_indices()
            for key, state in opt.state[layer.values].items():
                if torch.is_tensor(state) and state.shape == layer.values.shape:
                    ref_state = opt_ref.state[reference[i].weight][key].reshape(-1)[flat]
                    torch.testing.assert_close(state, ref_state, rtol=1e-4, atol=1e-6,
                                               msg=lambda m: f"step {step}, layer {i}, state {key}: {m}")

    g = torch.Generator().manual_seed(1)
    for step in range(24):
        x, t = torch.randn(16, 20, generator=g), torch.randn(16, 5, generator=g)
        for net, o, sp in ((reference, opt_ref, s_ref), (model, opt, s)):
            o.zero_grad()
            torch.nn.functional.mse_loss(net(x), t).backward()
            o.step()
            sp.step()
        compare(step)
    if method == "static":
        assert s.updates == 0
    else:
        assert s.updates == int(0.75 * 30) // 3


@pytest.mark.parametrize("method", ["rigl", "set", "snfs"])
def test_exact_density_grown_entries_start_at_zero_with_fresh_momentum(method):
    model = with_sparse_layers(mlp(), (0, 2, 4))
    optimizer = make_optimizer("sgd", model)
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.25, method=method, update_interval=2, total_steps=20)
    counts = frugal._C.layer_active_counts([list(w.shape) for w in sparsity.weights], 0.25, "erk")
    layers = [model[0], model[2], model[4]]

    def check(step):
        assert sum(layer.values.numel() for layer in layers) == sum(counts)
        if method != "snfs":
            assert [layer.values.numel() for layer in layers] == counts
        if sparsity.updates and sparsity.last_update()["step"] == step:
            for layer, grown in zip(layers, sparsity.last_update()["grown"]):
                at = torch.isin(layer.pattern.flat_indices(), grown)
                assert int(at.sum()) == grown.numel()
                assert not layer.values[at].any(), "grown weights start at 0"
                assert not optimizer.state[layer.values]["momentum_buffer"][at].any(), \
                    "grown weights start with fresh momentum"
                assert optimizer.state[layer.values]["momentum_buffer"][~at].any()

    train(model, optimizer, sparsity, 16, 2, check)
    assert sparsity.updates == 7  # after steps 1, 3, ..., 13 (T_end: step 15)


def test_between_updates_nothing_dense_is_formed_or_touched():
    model = with_sparse_layers(mlp(), (0, 2, 4))
    optimizer = make_optimizer("sgd", model)
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.25, method="rigl", update_interval=4, total_steps=40)
    g = torch.Generator().manual_seed(3)
    for step in range(12):
        optimizer.zero_grad()
        model(torch.randn(8, 20, generator=g)).pow(2).mean().backward()
        update = (step + 1) % 4 == 0  # steps 3, 7, 11 (all before T_end)
        for i in (0, 2, 4):
            assert (model[i].dense_weight_grad is not None) == update, f"step {step}, layer {i}"
        versions = [w._version for w in sparsity.weights]  # the dense shadows the core holds
        optimizer.step()
        sparsity.step()
        if not update:
            assert [w._version for w in sparsity.weights] == versions, "a shadow was written between updates"
        for i in (0, 2, 4):
            assert model[i].dense_weight_grad is None, "handed to the core, then released"
            assert model[i].keep_dense_grad == ((step + 2) % 4 == 0), "asked for the next update step only"
    assert sparsity.updates == 3


def test_state_dict_round_trip_continues_identically():
    def run(model, optimizer, sparsity, steps, seed):
        train(model, optimizer, sparsity, steps, seed, lambda step: None)

    a = with_sparse_layers(mlp(), (0, 2, 4))
    oa = make_optimizer("sgd", a)
    sa = frugal.DynamicSparsity(a, oa, 0.25, method="snfs", update_interval=3, total_steps=30, seed=5)
    run(a, oa, sa, 7, 1)
    # Resume: build the model, optimizer and sparsity, then load their states
    # in that order (the model's state holds the layers' patterns).
    b = with_sparse_layers(mlp(), (0, 2, 4))
    ob = make_optimizer("sgd", b)
    sb = frugal.DynamicSparsity(b, ob, 0.25, method="snfs", update_interval=3, total_steps=30, seed=99)
    b.load_state_dict(a.state_dict())
    ob.load_state_dict(oa.state_dict())
    sb.load_state_dict(sa.state_dict())
    run(a, oa, sa, 10, 2)
    run(b, ob, sb, 10, 2)
    for ma, mb in zip(sa.masks, sb.masks):
        assert torch.equal(ma, mb)
    for i in (0, 2, 4):
        assert torch.equal(a[i].mask(), b[i].mask())
        torch.testing.assert_close(a[i].values, b[i].values)
    assert sa.itop_rate() == sb.itop_rate()


def test_a_sparse_linear_layer_kept_dense_keeps_its_own_pattern():
    model = mlp()
    mask = torch.rand(40, 20, generator=torch.Generator().manual_seed(4)) < 0.5
    model[0] = frugal.SparseLinear.from_dense(model[0], mask)
    model = with_sparse_layers(model, (2,))
    sparsity = frugal.DynamicSparsity(model, None, 0.3, update_interval=1, total_steps=10, dense_layers=["0"])
    assert sparsity.names == ["2.weight", "4.weight"]
    assert list(sparsity.layers()) == ["2.weight"] and sparsity.layers()["2.weight"] is model[2]
    assert torch.equal(model[0].mask(), mask)
    assert torch.equal(model[2].mask(), sparsity.masks[0])
