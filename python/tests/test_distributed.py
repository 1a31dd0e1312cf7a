"""Two processes (Gloo over TCP on 127.0.0.1) run InfoBatch and DynamicSparsity."""

import socket

import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, TensorDataset

N, BATCH, EPOCHS = 45, 4, 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, port, out_dir):
    import frugal

    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                         world_size=2)
    try:
        # Each sample's loss depends on its index only; a rank that updated only
        # its own samples' scores would plan differently from the other.
        values = torch.rand(N, generator=torch.Generator().manual_seed(9)) + 0.1
        data = TensorDataset(torch.arange(N, dtype=torch.float32), values)
        ds = frugal.InfoBatch(data, EPOCHS, 0.5, 0.875, seed=4)
        assert (ds.rank, ds.world_size) == (rank, 2)
        loader = DataLoader(ds, BATCH, sampler=ds.sampler)
        record = {"orders": [], "scores": [], "lens": []}
        for epoch in range(EPOCHS):
            record["lens"].append(len(loader))
            order = []
            for index, value in loader:
                ds.update(value * (1 + epoch))
                order += index.long().tolist()
            record["orders"].append(order)
            record["scores"].append(ds.scores)
            record["kept"] = ds.kept

        # Sparse training: the same model on both ranks (as DDP keeps it), each
        # rank its own data; gradients averaged as DDP does, and the kept dense
        # gradients averaged by step(), so both ranks grow the same weights.
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        sparsity = frugal.DynamicSparsity(model, optimizer, 0.4, method="rigl", update_interval=2,
                                          total_steps=8, seed=1)
        g = torch.Generator().manual_seed(100 + rank)
        for _ in range(8):
            optimizer.zero_grad()
            model(torch.randn(5, 6, generator=g)).pow(2).sum().backward()
            for p in model.parameters():
                torch.distributed.all_reduce(p.grad)
                p.grad.div_(2)
            optimizer.step()
            sparsity.step()
        assert sparsity.updates == 3
        record["masks"] = [m.clone() for m in sparsity.masks]
        torch.save(record, f"{out_dir}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_two_ranks_take_identical_decisions_on_disjoint_equal_shards(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    import frugal

    reference = frugal._C.InfoBatchSampler(N, EPOCHS, 0.5, 0.875, seed=4)
    values = torch.rand(N, generator=torch.Generator().manual_seed(9)) + 0.1
    for epoch in range(EPOCHS):
        a, b = r0["orders"][epoch], r1["orders"][epoch]
        assert torch.equal(r0["scores"][epoch], r1["scores"][epoch])
        assert len(a) == len(b)
        assert r0["lens"][epoch] == r1["lens"][epoch] == -(-len(a) // BATCH)
        # One plan, dealt out in strides: rank 0 takes entries 0, 2, 4, ...
        reference.begin_epoch(epoch)
        kept = reference.order().tolist()
        interleaved = [i for pair in zip(a, b) for i in pair]
        assert interleaved[:len(kept)] == kept
        assert len(a) == (len(kept) + 1) // 2
        if len(kept) % 2 == 0:
            assert not set(a) & set(b)
        else:  # the shorter shard is padded with the plan's first entry
            assert set(a) & set(b) == {kept[0]}
        kept_t = torch.tensor(kept)
        reference.update_scores(kept_t, values[kept_t] * (1 + epoch))
        assert torch.equal(reference.scores, r0["scores"][epoch])
    assert any(len(o) < N for o in r0["orders"])
    for m0, m1 in zip(r0["masks"], r1["masks"]):
        assert torch.equal(m0, m1)
