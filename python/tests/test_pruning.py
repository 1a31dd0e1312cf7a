import pytest
import torch

import frugal


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 20),
                               torch.nn.ReLU(), torch.nn.Linear(20, 3))


def cubic(step, total, vi, vf, wi, wf):
    wi, wf = round(wi * total), round(wf * total)
    if step <= wi:
        return vi
    if step > total - wf:
        return vf
    k = 1 - (step - wi) / (total - wi - wf)
    return vf + (vi - vf) * k ** 3


def train(m, pruner, steps, lr=0.05):
    optimizer = torch.optim.SGD(m.parameters(), lr=lr)
    pruner.add_score_group(optimizer)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(16, 10, generator=g), torch.randint(0, 3, (16,), generator=g)
        loss = torch.nn.functional.cross_entropy(m(x), y) + pruner.regularizer()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pruner.step()
    return optimizer


@pytest.mark.parametrize("method", ["magnitude", "movement"])
def test_top_v_methods_follow_the_cubic_schedule_to_exact_counts(method):
    m = model()
    keys = list(m.state_dict())
    T = 30
    pruner = frugal.Pruner(m, method, total_steps=T, final_remaining=0.2, keep_head_dense=True)
    assert pruner.names == ["0.weight", "2.weight"]  # the head stays dense
    for step in range(T + 1):
        assert pruner._core.target_remaining(step) == pytest.approx(cubic(step, T, 1.0, 0.2, 0.1, 0.2))
    train(m, pruner, T)
    m.eval()
    with torch.no_grad():
        m(torch.zeros(1, 10))
    report = pruner.remaining()
    assert report["layers"]["0.weight"] == (round(0.2 * 200), 200)
    assert report["layers"]["2.weight"] == (round(0.2 * 400), 400)
    assert list(m.state_dict()) == keys  # the model's own parameters are unchanged in name
    assert all(isinstance(p, torch.nn.Parameter) for p in m.parameters())


def test_the_head_is_pruned_unless_kept_dense_as_in_the_cpp_core():
    assert frugal.Pruner(model(), "magnitude", total_steps=10).names == ["0.weight", "2.weight", "4.weight"]
    kept = frugal.Pruner(model(), "magnitude", total_steps=10, keep_head_dense=True)
    assert kept.names == ["0.weight", "2.weight"]


@pytest.mark.parametrize("method", ["magnitude", "movement", "soft_movement", "l0"])
def test_bake_gives_an_ordinary_model_with_the_masked_outputs(method):
    m = model()
    pruner = frugal.Pruner(m, method, total_steps=20, final_remaining=0.3)
    train(m, pruner, 20)
    m.eval()
    x = torch.randn(5, 10)
    with torch.no_grad():
        masked = m(x)
    report = pruner.bake()
    assert "weight" not in m[0].__dict__ and isinstance(m[0].weight, torch.nn.Parameter)
    with torch.no_grad():
        torch.testing.assert_close(m(x), masked)
    assert report["kept"] == int(sum((m[i].weight != 0).sum() for i in (0, 2, 4)))
    if method in ("magnitude", "movement"):
        assert report["kept"] == round(0.3 * 200) + round(0.3 * 400) + round(0.3 * 60)


def test_movement_scores_learn_and_regularizer_reaches_them():
    m = model()
    pruner = frugal.Pruner(m, "soft_movement", total_steps=10)
    scores = pruner.score_parameters()
    assert len(scores) == 3 and all(s.requires_grad for s in scores)
    before = [s.detach().clone() for s in scores]
    train(m, pruner, 3)
    assert any(not torch.equal(a, s.detach()) for a, s in zip(before, scores))
    assert pruner.regularizer().requires_grad


def test_conv_layers_by_name_pattern():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 2))
    pruner = frugal.Pruner(m, "magnitude", total_steps=4, warmup=0.0, cooldown=0.5, final_remaining=0.25,
                           include=["0"])
    optimizer = torch.optim.SGD(m.parameters(), lr=0.01)
    for _ in range(4):
        loss = m(torch.randn(2, 3, 6, 6)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pruner.step()
    pruner.bake()
    assert int((m[0].weight != 0).sum()) == round(0.25 * m[0].weight.numel())


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="magic"), "magic"),
    (dict(method="movement", final_remaining=1.5), "1.5"),
    (dict(method="movement", include=["nope"]), "'nope' matches no Linear or Conv layer"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        frugal.Pruner(model(), total_steps=10, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
