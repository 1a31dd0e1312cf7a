"""frugal.read_csr / load_csr / write_csr: the weights.csr export format."""

import pytest
import torch

import frugal


def pruned_model(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Flatten(), torch.nn.Linear(12, 5))
    with torch.no_grad():
        for m in (model[0], model[2]):
            m.weight.mul_(torch.rand_like(m.weight) < 0.3)
    return model


def test_read_gives_the_nonzeros_of_each_weight_in_its_matrix_view(tmp_path):
    model = pruned_model()
    path = tmp_path / "w.csr"
    frugal.write_csr(path, model)
    weights = frugal.read_csr(path)
    assert list(weights) == ["0.weight", "2.weight"]
    conv = weights["0.weight"]
    assert conv.layout == torch.sparse_csr and list(conv.shape) == [3, 2 * 3 * 3]
    assert conv.values().numel() == int((model[0].weight != 0).sum())
    assert torch.equal(conv.to_dense(), model[0].weight.detach().reshape(3, -1))
    assert torch.equal(weights["2.weight"].to_dense(), model[2].weight.detach())


def test_load_into_a_fresh_model_gives_the_same_outputs(tmp_path):
    model, fresh = pruned_model(0), pruned_model(1)
    path = tmp_path / "w.csr"
    frugal.write_csr(path, model)
    frugal.load_csr(fresh, path)
    fresh[0].bias.data.copy_(model[0].bias)  # the file holds the weights only
    fresh[2].bias.data.copy_(model[2].bias)
    x = torch.randn(4, 2, 4, 4)
    assert torch.equal(fresh(x), model(x))


def test_a_model_that_does_not_fit_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "w.csr"
    frugal.write_csr(path, pruned_model())
    other = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Flatten(), torch.nn.Linear(12, 4))
    before = [p.detach().clone() for p in other.parameters()]
    with pytest.raises(ValueError, match=r"'2.weight' has shape \[5, 12\] but the model's is \[4, 12\]"):
        frugal.load_csr(other, path)
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))
    with pytest.raises(ValueError, match="'0.weight' is not a parameter"):
        frugal.load_csr(torch.nn.Linear(12, 5), path)


def test_a_flipped_byte_is_one_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "w.csr"
    frugal.write_csr(path, pruned_model())
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the last stored value
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"w\.csr is corrupt: checksum"):
        frugal.read_csr(path)
