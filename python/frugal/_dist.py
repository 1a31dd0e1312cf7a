"""torch.distributed helpers: the process group when one is initialized."""

import torch


def world():
    """(rank, world_size) of the default process group, or (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_gather_cat(tensor):
    """Every rank's `tensor` (same shape on all ranks), concatenated in rank order."""
    dist = torch.distributed
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)
