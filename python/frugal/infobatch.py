"""InfoBatch for PyTorch's DataLoader: unbiased dynamic data pruning.

Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data
Pruning", ICLR 2024. A drop-in for the official `infobatch` package:

    ds = InfoBatch(train_ds, num_epochs, 0.5, 0.875)
    loader = DataLoader(ds, batch_size, sampler=ds.sampler, num_workers=4)
    for epoch in range(num_epochs):
        for x, y in loader:
            loss = ds.update(criterion_none(model(x), y))   # weighted mean
            ...

Every decision (who is kept, with which weight, the shuffle, the shard of
each rank) is taken by the C++ frugal::data::InfoBatchSampler, so Python and
C++ runs with the same seed agree. Unlike the official package, nothing is
monkey-patched and the dataset returns its items unchanged: update() knows
which samples a batch holds from the epoch plan and the number of samples
updated so far. That is exact because a DataLoader returns batches in
sampler order (also with num_workers > 0); update() checks each batch's size
against the plan, so a batch that does not come from this sampler in order
is an error rather than silently wrong scores.
"""

import warnings

import torch

from . import _C
from . import _dist


class InfoBatchSampler(torch.utils.data.Sampler):
    """The epoch plans of an InfoBatch, as a torch Sampler (use `ds.sampler`).

    An epoch is planned when iteration starts, or earlier by len(): len()
    read before an epoch (after the previous one was fully updated) plans it,
    so len(loader) is the coming epoch's number of batches.
    """

    def __init__(self, core, drop_last=False):
        self._core = core
        self._drop_last = drop_last  # the DataLoader never yields the last partial batch
        self._epoch = -1          # epoch of the current plan
        self._order = None        # this rank's indices, int64 tensor
        self._started = False     # whether the current plan is being iterated
        self._consumed = 0        # samples of the plan update() has seen
        self._batch = None        # size of the epoch's first updated batch

    # -- plans -----------------------------------------------------------
    def _plan(self, epoch):
        self._core.begin_epoch(epoch)
        self._order = self._core.order()
        self._epoch = epoch
        self._started = False
        self._consumed = 0
        self._batch = None

    def _finished(self):
        if self._order is None:
            return False
        left = len(self._order) - self._consumed
        # With drop_last the short tail is never yielded, so it is never updated.
        return left <= 0 or (self._drop_last and self._batch is not None and left < self._batch)

    def __len__(self):
        if self._order is None or (self._started and self._finished()):
            self._plan(self._epoch + 1)
        return len(self._order)

    def __iter__(self):
        # A generator: the body runs at the first next(), so iterators that a
        # DataLoader creates and drops unused plan nothing.
        if self._order is None or self._started:
            self._warn_if_tail_dropped()
            self._plan(self._epoch + 1)
        self._started = True
        yield from self._order.tolist()

    def _warn_if_tail_dropped(self):
        left = 0 if self._order is None else len(self._order) - self._consumed
        if self._started and not self._drop_last and self._batch is not None and 0 < left < self._batch:
            warnings.warn(f"InfoBatch: the last {left} samples of epoch {self._epoch} were never updated, "
                          f"as a DataLoader with drop_last=True does; pass drop_last=True to InfoBatch "
                          f"too, so that len(loader) is right before each epoch", stacklevel=3)

    @property
    def epoch(self):
        """The epoch of the current plan (-1 before the first)."""
        return self._epoch

    @property
    def order(self):
        """This rank's sample indices of the current plan, in order (int64)."""
        return None if self._order is None else self._order.clone()

    # -- what update() needs ------------------------------------------------
    def _take(self, n):
        """The indices of the next batch of `n` samples, checked against the plan."""
        if self._order is None or not self._started:
            raise RuntimeError("InfoBatch.update() called before iterating a DataLoader built with "
                               "sampler=ds.sampler")
        total = len(self._order)
        left = total - self._consumed
        if n == 0 or n > left or (self._batch is not None and (n > self._batch or (n < self._batch and n != left))):
            expected = min(left, self._batch) if self._batch is not None else f"at most {left}"
            raise RuntimeError(
                f"InfoBatch.update() got {n} losses where the epoch plan expects {expected} "
                f"({self._consumed} of {total} samples updated): build the DataLoader with "
                f"sampler=ds.sampler, keep its batches in order, and call update() once per batch "
                f"with that batch's per-sample losses")
        if self._batch is None:
            self._batch = n
        idx = self._order[self._consumed:self._consumed + n]
        self._consumed += n
        return idx

    def state_dict(self):
        return {"core": self._core.state_bytes(), "epoch": self._epoch, "started": self._started,
                "consumed": self._consumed, "batch": self._batch}

    def load_state_dict(self, state):
        self._core.load_state_bytes(state["core"])
        self._epoch = int(state["epoch"])
        self._order = self._core.order() if self._epoch >= 0 else None
        self._started = bool(state["started"])
        self._consumed = int(state["consumed"])
        self._batch = state["batch"]


class InfoBatch(torch.utils.data.Dataset):
    """Wraps `dataset` (items returned unchanged) with InfoBatch pruning.

    Arguments as in the official package: `num_epochs` (C; annealing from
    epoch floor(delta * C)), `prune_ratio` (r in [0, 0.9]: share of the
    below-mean samples skipped), `delta` (share of the epochs that prune).
    Keyword arguments of the C++ sampler: `warmup_epochs` (epochs at the start
    on all data), `score_momentum` (m in (0, 1]: score = m * loss + (1 - m) *
    old; 1 keeps the last loss), `seed` (InfoBatch's own random stream; the
    global numpy / torch generators are never touched). `rank` and
    `world_size` default to torch.distributed's when it is initialized: each
    rank then gets an equal, disjoint shard of the same plan. `drop_last`:
    pass the DataLoader's, so that an epoch whose short last batch the loader
    drops counts as finished and len(loader) is right before the next one.
    """

    def __init__(self, dataset, num_epochs, prune_ratio=0.5, delta=0.875, *, warmup_epochs=0,
                 score_momentum=1.0, seed=0, rank=None, world_size=None, drop_last=False):
        self.dataset = dataset
        try:
            n = len(dataset)
        except TypeError:
            raise ValueError("InfoBatch needs a map-style dataset with len()") from None
        dist_rank, dist_world = _dist.world()
        self.rank = dist_rank if rank is None else int(rank)
        self.world_size = dist_world if world_size is None else int(world_size)
        self._core = _C.InfoBatchSampler(n, int(num_epochs), float(prune_ratio), float(delta),
                                         warmup_epochs=int(warmup_epochs),
                                         score_momentum=float(score_momentum), seed=int(seed),
                                         rank=self.rank, world_size=self.world_size)
        self.sampler = InfoBatchSampler(self._core, bool(drop_last))

    def __len__(self):
        return len(self.dataset)

    def __getstate__(self):
        # DataLoader workers started by "spawn" get a pickled copy: they only
        # read items, so the plan and the scores stay in the main process.
        state = self.__dict__.copy()
        state["_core"] = state["sampler"] = None
        return state

    def __getitem__(self, index):
        return self.dataset[index]

    @property
    def num_epochs(self):
        return self._core.epochs

    @property
    def prune_ratio(self):
        return self._core.prune_ratio

    @property
    def delta(self):
        return self._core.delta

    @property
    def stop_prune(self):
        """First epoch that trains on all data with weight 1: floor(delta * num_epochs)."""
        return self._core.stop_epoch

    @property
    def scores(self):
        """Per-sample scores (a copy, float32 [N])."""
        return self._core.scores

    @property
    def weights(self):
        """Per-sample loss weights of the current plan (a copy, float32 [N])."""
        return self._core.weights

    @property
    def kept(self):
        """Samples the current epoch trains on, over all ranks."""
        return self._core.kept

    def update(self, loss):
        """Records the batch's per-sample losses and returns their weighted mean.

        `loss`: the unreduced losses of the batch the DataLoader just gave
        (criterion with reduction='none'), 1-D. In a distributed run every
        rank calls update() for every batch; the (index, loss) pairs of all
        ranks are gathered (int64 indices) before the scores change, so all
        ranks hold the same scores and plan the same epochs.
        """
        if not isinstance(loss, torch.Tensor) or loss.dim() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"InfoBatch.update() needs the per-sample losses of the batch (a 1-D tensor, "
                             f"criterion with reduction='none'), got {shape}")
        indices = self.sampler._take(loss.numel())
        weights = self._core.weights_of(indices).to(device=loss.device, dtype=loss.dtype)
        values = loss.detach()
        if self.world_size > 1:
            if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
                raise RuntimeError(f"InfoBatch was built for world_size {self.world_size} but "
                                   f"torch.distributed is not initialized")
            indices = _dist.all_gather_cat(indices.to(values.device))
            values = _dist.all_gather_cat(values)
        self._core.update_scores(indices.cpu(), values.to("cpu", torch.float32))
        return (loss * weights).mean()

    def state_dict(self):
        """Scores, weights, the current plan and where the loop stands in it."""
        return self.sampler.state_dict()

    def load_state_dict(self, state):
        self.sampler.load_state_dict(state)
