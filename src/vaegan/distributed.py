"""Data-parallel training across processes, as started by `torchrun` (gloo on CPU, NCCL on GPU).

Every rank holds the whole model and computes the same global batch's forward on its own slice
of it (rank r takes rows r*b .. (r+1)*b of the batch and of the step's noise), so N ranks with a
global batch B compute what one process with batch B computes, except for BatchNorm statistics,
which are per rank unless `sync_batchnorm` shares them. Per stage of a step, one all-reduce
averages the logged statistics (so every rank gates its networks alike); per step, one averages
the gradients of the networks that step together with the BatchNorm running statistics. No
DistributedDataParallel wrapper: it synchronises inside backward(), while each network here takes
its gradient from its own loss with autograd.grad.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vaegan.errors import ConfigError, TrainingDiverged


@dataclass(frozen=True)
class Distributed:
    """This process's place among `world` ranks (world 1: a plain single-process run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on rank 0, the one process that writes files: logs, grids, checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True with two or more processes; with one, every collective here is a no-op."""
        return self.world > 1

    def shard(self, x: Tensor) -> Tensor:
        """This rank's rows of a global batch (B, ...) -> (B / world, ...)."""
        if not self.enabled:
            return x
        b = x.shape[0] // self.world
        return x[self.rank * b : (self.rank + 1) * b]

    def mean(self, tensors: list[Tensor]) -> list[Tensor]:
        """The tensors averaged across ranks: one all-reduce of one flat buffer."""
        if not self.enabled or not tensors:
            return tensors
        flat = torch.cat([t.reshape(-1).float() for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world
        pieces = flat.split([t.numel() for t in tensors])
        return [p.view_as(t).to(t.dtype) for t, p in zip(tensors, pieces, strict=True)]

    def mean_stats(self, stats: dict[str, Tensor]) -> dict[str, Tensor]:
        """The logged statistics of the global batch, so that every rank gates alike."""
        return dict(zip(stats, self.mean(list(stats.values())), strict=True))

    def mean_gradients(
        self, grads: dict[str, tuple[Tensor, ...]], model: nn.Module
    ) -> dict[str, tuple[Tensor, ...]]:
        """Each network's gradients averaged across ranks, in one all-reduce that also averages
        (and writes back) the model's floating-point buffers: BatchNorm's running statistics
        then stay equal on every rank without sync_batchnorm."""
        if not self.enabled:
            return grads
        buffers = [b for b in model.buffers() if b.is_floating_point()]
        averaged = iter(self.mean([g for net in grads.values() for g in net] + buffers))
        grads = {name: tuple(next(averaged) for _ in net) for name, net in grads.items()}
        with torch.no_grad():
            for buffer in buffers:
                buffer.copy_(next(averaged))
        return grads

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank if it is True on any (a Ctrl-C seen by one rank stops them all)."""
        if not self.enabled:
            return flag
        t = torch.tensor([float(flag)], device=device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        """Wait until every rank gets here; a no-op in a single process."""
        if self.enabled:
            dist.barrier()

    def check_agree(self, tensors: list[Tensor], what: str) -> None:
        """Raise if the ranks' copies of `tensors` differ (they must stay bit-identical)."""
        if not self.enabled:
            return
        fingerprint = torch.stack([t.double().sum() for t in tensors])
        gathered = [torch.empty_like(fingerprint) for _ in range(self.world)]
        dist.all_gather(gathered, fingerprint)
        if any(not torch.equal(g, gathered[0]) for g in gathered):
            raise TrainingDiverged(f"the ranks' {what} differ: data-parallel training went wrong")


SINGLE = Distributed()  # a plain single-process run


def from_environment(device_name: str) -> tuple[Distributed, str]:
    """Join the process group torchrun describes in the environment, if any.

    Returns this rank's place and the device it should use: with CUDA, `cuda:LOCAL_RANK`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed(), device_name
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name.startswith("cuda") or (
        device_name == "auto" and torch.cuda.is_available()
    )
    if use_cuda:
        device_name = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(rank=rank, world=world, local_rank=local_rank), device_name


def shutdown() -> None:
    """Leave the process group that from_environment joined; a no-op when none was."""
    if dist.is_initialized():
        dist.destroy_process_group()


def check_batch(batch_size: int, world: int) -> None:
    """ConfigError unless the global batch_size divides evenly among `world` processes."""
    if batch_size % world:
        raise ConfigError(
            f"train.batch_size {batch_size} must divide among {world} processes "
            "(it is the global batch; each process takes batch_size / processes)"
        )


class AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over all ranks, differentiable: the gradient of each rank's input is
    the sum of every rank's output gradient (what torch.distributed.nn's all_reduce did before
    it was deprecated)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: D102
        return summed_over_ranks(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: D102
        return summed_over_ranks(grad)


def summed_over_ranks(x: Tensor) -> Tensor:
    """A copy of x summed over all ranks (x itself unchanged)."""
    total = x.clone()
    dist.all_reduce(total)
    return total


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (1d or 2d) whose training statistics are those of the global batch.

    Unlike torch.nn.SyncBatchNorm this works on the CPU (gloo) as well: the per-channel sums
    are all-reduced with a differentiable all-reduce (AllReduceSum), so autograd takes
    the exact gradient of the global-batch normalisation. Same parameters and buffers (and
    state_dict keys) as the BatchNorm it replaces; in eval mode it is that BatchNorm.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim not in (2, 4):
            raise ValueError(f"expected 2D or 4D input, got {x.ndim}D")

    def forward(self, x: Tensor) -> Tensor:
        """Training with several processes: normalise by the global batch's per-channel mean and
        variance, and update the running statistics from them; otherwise plain BatchNorm."""
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.ndim)]  # every dimension but the channels
        count = x.new_full((1,), x.numel() / channels)
        total = AllReduceSum.apply(torch.cat([count, x.sum(dims), x.square().sum(dims)]))
        n = total[0]
        mean, mean_sq = total[1 : 1 + channels] / n, total[1 + channels :] / n
        var = mean_sq - mean.square()
        with torch.no_grad():  # running statistics kept as BatchNorm keeps them (unbiased var)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
            self.num_batches_tracked += 1
        shape = [1, channels] + [1] * (x.ndim - 2)
        y = (x - mean.view(shape)) * (var.view(shape) + self.eps).rsqrt()
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in `module` by a SyncBatchNorm sharing its tensors."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            sync = SyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine)
            sync.weight, sync.bias = child.weight, child.bias
            sync.running_mean, sync.running_var = child.running_mean, child.running_var
            sync.num_batches_tracked = child.num_batches_tracked
            setattr(module, name, sync)
        else:
            sync_batchnorm(child)
    return module
