import pytest
import torch

import frugal


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 40), torch.nn.ReLU(), torch.nn.Linear(40, 30),
                               torch.nn.ReLU(), torch.nn.Linear(30, 5))


def cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 6 * 6, 5))


def batch(model, g):
    if isinstance(model[0], torch.nn.Conv2d):
        return torch.randn(6, 3, 8, 8, generator=g)
    return torch.randn(16, 20, generator=g)


@pytest.mark.parametrize("method", ["rigl", "set", "snfs", "random_unfired", "static"])
@pytest.mark.parametrize("make", [mlp, cnn])
def test_density_exact_masked_weights_zero_and_itop_rate_grows(method, make):
    model = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    steps = 40
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.2, method=method, update_interval=4,
                                      total_steps=steps, seed=3)
    shapes = [list(w.shape) for w in sparsity.weights]
    counts = frugal._C.layer_active_counts(shapes, 0.2, "erk")
    total = sum(w.numel() for w in sparsity.weights)
    assert sum(counts) == round(0.2 * total)
    g = torch.Generator().manual_seed(1)
    rates = [sparsity.itop_rate()]
    for step in range(steps):
        optimizer.zero_grad()
        model(batch(model, g)).pow(2).mean().backward()
        for w, m in zip(sparsity.weights, sparsity.masks):
            assert not w.grad[~m].any(), "the optimizer must never see an inactive weight's gradient"
        optimizer.step()
        sparsity.step()
        for w, m, c in zip(sparsity.weights, sparsity.masks, counts):
            assert not w[~m].any(), f"step {step}: masked weights must be zero"
            if method != "snfs":  # SNFS moves the budget across layers; the total stays exact
                assert int(m.sum()) == c
        assert sum(int(m.sum()) for m in sparsity.masks) == sum(counts)
        assert sparsity.density() == sum(counts) / total
        if sparsity.updates and sparsity.last_update()["step"] == step:
            for w, grown in zip(sparsity.weights, sparsity.last_update()["grown"]):
                buf = optimizer.state[w]["momentum_buffer"]
                assert not buf.view(-1)[grown].any(), "grown weights start with fresh momentum"
        rates.append(sparsity.itop_rate())
    assert all(b >= a for a, b in zip(rates, rates[1:])), rates
    per_layer = sparsity.itop_rate(per_layer=True)
    assert set(per_layer) == set(sparsity.names)
    if method == "static":
        assert sparsity.updates == 0 and rates[-1] == rates[0]
    else:
        assert sparsity.updates == int(0.75 * steps) // 4 and rates[-1] > rates[0]


def test_adam_state_of_grown_weights_is_reset():
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.3, method="set", update_interval=2, total_steps=10)
    for step in range(2):
        optimizer.zero_grad()
        model(torch.randn(8, 20)).sum().backward()
        optimizer.step()
        sparsity.step()
    assert sparsity.updates == 1
    for w, grown in zip(sparsity.weights, sparsity.last_update()["grown"]):
        for key in ("exp_avg", "exp_avg_sq"):
            assert not optimizer.state[w][key].view(-1)[grown].any()


def test_state_dict_round_trip_continues_identically():
    def run(model, optimizer, sparsity, steps, seed):
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            optimizer.zero_grad()
            model(torch.randn(8, 20, generator=g)).pow(2).mean().backward()
            optimizer.step()
            sparsity.step()

    a = mlp()
    oa = torch.optim.SGD(a.parameters(), lr=0.05)
    sa = frugal.DynamicSparsity(a, oa, 0.25, method="set", update_interval=3, total_steps=30, seed=5)
    run(a, oa, sa, 7, 1)
    # Resume: build the model, optimizer and sparsity, then load their states
    # (building the sparsity masks the weights with its own initial masks).
    b = mlp()
    ob = torch.optim.SGD(b.parameters(), lr=0.05)
    sb = frugal.DynamicSparsity(b, ob, 0.25, method="set", update_interval=3, total_steps=30, seed=99)
    b.load_state_dict(a.state_dict())
    ob.load_state_dict(oa.state_dict())
    sb.load_state_dict(sa.state_dict())
    run(a, oa, sa, 10, 2)
    run(b, ob, sb, 10, 2)
    for ma, mb in zip(sa.masks, sb.masks):
        assert torch.equal(ma, mb)
    assert sa.itop_rate() == sb.itop_rate()


def test_dense_layers_and_include_patterns_select_layers():
    model = mlp()
    sparsity = frugal.DynamicSparsity(model, None, 0.5, total_steps=10, dense_layers=["4"])
    assert sparsity.names == ["0.weight", "2.weight"]
    assert torch.all(model[4].weight != 0)


def test_the_head_is_sparse_unless_kept_dense_as_in_the_cpp_core():
    assert frugal.DynamicSparsity(mlp(), None, 0.5, total_steps=10).names == ["0.weight", "2.weight", "4.weight"]
    model = mlp()
    sparsity = frugal.DynamicSparsity(model, None, 0.5, total_steps=10, keep_head_dense=True)
    assert sparsity.names == ["0.weight", "2.weight"]
    assert torch.all(model[4].weight != 0)


def test_mask_choice_leaves_the_global_generator_alone():
    model = mlp()
    state = torch.get_rng_state()
    frugal.DynamicSparsity(model, None, 0.5, total_steps=10)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("kwargs, message", [
    (dict(density=0.0), "sparse density must be in (0, 1], got 0"),
    (dict(density=0.5, method="magic"), "unknown sparse training method 'magic'"),
    (dict(density=0.5, distribution="gauss"), "gauss"),
    (dict(density=0.5, update_interval=0), "update_interval (delta_t) must be >= 1, got 0"),
    (dict(density=0.5, dense_layers=["nope"]), "dense layer pattern 'nope' matches no Linear or Conv layer"),
    (dict(density=0.5, total_steps=None), "needs total_steps"),
])
def test_bad_arguments_are_value_errors_with_the_core_message(kwargs, message):
    kwargs.setdefault("total_steps", 10)
    with pytest.raises(ValueError) as info:
        frugal.DynamicSparsity(mlp(), None, **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_rigl_grows_the_inactive_weights_with_the_largest_dense_gradient():
    import copy

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay put: the drop is by |W| alone
    sparsity = frugal.DynamicSparsity(model, optimizer, 0.3, method="rigl", update_interval=1, total_steps=10)
    x = torch.randn(16, 20)
    twin = copy.deepcopy(model)  # the same weights, no gradient hooks: the dense gradient
    twin(x).pow(2).mean().backward()
    dense = [dict(twin.named_parameters())[n].grad for n in sparsity.names]
    before = [m.clone() for m in sparsity.masks]
    optimizer.zero_grad()
    model(x).pow(2).mean().backward()
    optimizer.step()
    sparsity.step()
    update = sparsity.last_update()
    assert update["step"] == 0
    for g, m, dropped, grown in zip(dense, before, update["dropped"], update["grown"]):
        candidates = (~m).view(-1).clone()
        candidates[dropped] = True  # a weight dropped now may be grown again
        score = g.abs().view(-1).masked_fill(~candidates, -1)
        expected = torch.topk(score, grown.numel()).indices
        assert set(grown.tolist()) == set(expected.tolist())
