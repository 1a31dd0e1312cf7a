import pytest
import torch

import frugal


def layer_and_mask(bias=True, density=0.3):
    torch.manual_seed(0)
    linear = torch.nn.Linear(24, 16, bias=bias)
    mask = torch.rand(16, 24) < density
    return linear, mask


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 24), (1, 24), (2, 3, 24)])
def test_forward_and_gradients_equal_the_masked_dense_layer(bias, shape):
    linear, mask = layer_and_mask(bias)
    sparse = frugal.SparseLinear.from_dense(linear, mask)
    assert sparse.values.numel() == int(mask.sum())
    x = torch.randn(*shape, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    weight = linear.weight.detach().clone().requires_grad_(True)
    b = linear.bias.detach().clone().requires_grad_(True) if bias else None
    y = sparse(x)
    y_ref = torch.nn.functional.linear(x_ref, weight * mask, b)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(sparse.values.grad, weight.grad[mask])  # CSR order = row-major order
    if bias:
        torch.testing.assert_close(sparse.bias.grad, b.grad)
    torch.testing.assert_close(sparse.to_dense(), linear.weight.detach() * mask)


def test_a_few_training_steps_equal_the_masked_dense_layer():
    linear, mask = layer_and_mask()
    sparse = frugal.SparseLinear.from_dense(linear, mask)
    dense = torch.nn.Linear(24, 16)
    dense.load_state_dict(linear.state_dict())
    with torch.no_grad():
        dense.weight.mul_(mask)
    opt_s = torch.optim.SGD(sparse.parameters(), lr=0.1, momentum=0.9)
    opt_d = torch.optim.SGD(dense.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        x, t = torch.randn(10, 24, generator=g), torch.randn(10, 16, generator=g)
        for model, opt in ((sparse, opt_s), (dense, opt_d)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(torch.tanh(model(x)), t).backward()
            if model is dense:
                dense.weight.grad.mul_(mask)
            opt.step()
    torch.testing.assert_close(sparse.to_dense(), dense.weight.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sparse.bias, dense.bias, rtol=1e-5, atol=1e-6)


def test_state_dict_holds_the_pattern():
    linear, mask = layer_and_mask()
    a = frugal.SparseLinear.from_dense(linear, mask)
    b = frugal.SparseLinear(24, 16, torch.ones(16, 24, dtype=torch.bool))
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.mask(), mask)
    x = torch.randn(4, 24)
    torch.testing.assert_close(a(x), b(x))


def test_bad_arguments():
    linear, mask = layer_and_mask()
    with pytest.raises(ValueError, match=r"mask must have shape \[16, 24\]"):
        frugal.SparseLinear.from_dense(linear, mask.t())
    with pytest.raises(ValueError, match="needs a torch.nn.Linear"):
        frugal.SparseLinear.from_dense(torch.nn.Conv1d(2, 2, 1))
    sparse = frugal.SparseLinear.from_dense(linear, mask)
    with pytest.raises(RuntimeError, match="float32 CPU tensor") as info:
        sparse(torch.randn(3, 24, dtype=torch.float64))
    assert "\n" not in str(info.value)
    with pytest.raises(RuntimeError) as info:
        sparse(torch.randn(3, 23))
    assert "\n" not in str(info.value) and "23" in str(info.value)


def test_a_copy_computes_the_same_and_trains_on_its_own():
    import copy

    linear, mask = layer_and_mask()
    a = frugal.SparseLinear.from_dense(linear, mask)
    x = torch.randn(4, 24)
    a(x)  # the pattern is cached now
    b = copy.deepcopy(a)
    torch.testing.assert_close(b(x), a(x))
    b(x).sum().backward()
    assert a.values.grad is None and b.values.grad is not None
