"""Data parallelism on torch.distributed, written out: what `torchrun` starts, and what the ranks must agree on.

    torchrun --standalone --nproc_per_node 2 train_ppo.py    # 2 processes: gloo on CPU, NCCL on CUDA (one GPU each)
    python train_ppo.py                                      # 1 process: nothing here does anything

torchrun starts N copies of a script with RANK, LOCAL_RANK and WORLD_SIZE set; setup_runtime calls init(). Then:
  - every rank builds the same model (same seed) and draws the same global batch (same random streams), and
    keeps its own slice of it (shard): rank r holds rows [r*B/N, (r+1)*B/N);
  - a loss that averages over the batch divides by the GLOBAL count (share): each rank's loss is
    sum over its own tokens / all ranks' tokens, so the SUM of the ranks' gradients (all_reduce_grads, called
    between backward and the optimiser step) is exactly the gradient of the mean over all tokens. (An average of
    per-rank means is not: ranks hold different numbers of tokens.) Every rank then takes the same optimiser
    step and the weights stay identical, with no broadcast;
  - statistics of the whole batch (advantage whitening, the KL of the adaptive controller, progress lines) are
    sums all-reduced (all_sum) before they are divided;
  - rank 0 alone writes files (files.atomic_write, files.MetricsLog) and prints; it alone runs the held-out
    evaluations, on the same samples a one-process run draws, so a reported number does not depend on N.

This is what torch's DistributedDataParallel does, without its hooks (DDP sums gradient buckets during backward,
overlapping communication with compute, and averages: it needs the loss multiplied by N to match). By hand the
models stay plain modules: generate, the KV cache and state_dict see no wrapper. At the scale of real RLHF,
the same loop runs with the weights sharded too (FSDP, ZeRO) and the sampling on separate inference engines
(lessons/08-future.md).
"""
import atexit
import hashlib
import os
import sys

import torch
import torch.distributed as dist

_device = torch.device("cpu")      # where the tensors all_sum sends live (CUDA tensors for NCCL)


def world() -> int:
    """The number of processes: WORLD_SIZE under torchrun, 1 otherwise."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0: the process that writes files and prints."""
    return rank() == 0


def local_processes() -> int:
    """How many ranks share this machine (LOCAL_WORLD_SIZE under torchrun): they share its CPU cores."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def init(device: torch.device) -> torch.device:
    """Join the process group torchrun set up (no-op in a plain run, or with one process) -> the device this rank
    uses (cuda:LOCAL_RANK on GPUs). Other ranks' stdout goes to /dev/null: one copy of every progress line."""
    global _device
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(_leave)
    _device = device
    if not is_main():
        sys.stdout = open(os.devnull, "w")
    return device


def _leave():
    """At exit: wait for every rank, then tear the group down together. A rank that destroys its gloo group while
    another still holds its connections (rank 0 reporting, the others done) can abort in C++ ("terminate called
    without an active exception", seen in CI-like runs); a crashed rank never gets here, torchrun stops the rest."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def derive_seed(*parts) -> int:
    """A seed from (seed, rank, iteration, ...): each rank samples its own responses, and a resumed run redraws the
    same ones without saving any per-rank random state."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") % 2**63


def reseed_dropout(seed: int, step: int):
    """Under torchrun: torch's global stream (dropout) from (seed, rank, step), so the ranks draw different masks
    and a resumed run needs no per-rank stream. A one-process run keeps its one stream (--resume saves it)."""
    if world() > 1:
        torch.manual_seed(derive_seed(seed, rank(), step))


def generators(gen: torch.Generator, seed: int, it: int) -> tuple[torch.Generator, torch.Generator]:
    """(this rank's sampling generator, the generator every rank shares for minibatch orders) at iteration it.
    One process: (gen, gen), the run's one stream as before. Under torchrun both are fresh streams derived from
    (seed, rank, it) and (seed, it): ranks sample different responses, shuffle one global order, and a resumed
    run needs no per-rank random state."""
    if world() == 1:
        return gen, gen
    mine = torch.Generator(device=gen.device).manual_seed(derive_seed(seed, rank(), it))
    return mine, torch.Generator(device=gen.device).manual_seed(derive_seed(seed, "shared", it))


# ----------------------------------------------------------------------------------------------------------------
# The batch: one global batch, a slice per rank

def shard_range(n: int) -> range:
    """The rows of an n-row global batch this rank holds: a contiguous block (the first n % N ranks hold one more)."""
    q, r = divmod(n, world())
    start = rank() * q + min(rank(), r)
    return range(start, start + q + (rank() < r))


def shard(x):
    """This rank's rows of a global batch (a tensor or a list); the whole batch in one process."""
    if world() == 1:
        return x
    rows = shard_range(len(x))
    return x[rows.start:rows.stop]


def local_rows(global_rows: torch.Tensor, n: int) -> torch.Tensor:
    """The positions, in this rank's shard of an n-row batch, of those of global_rows (global indices, in their
    order) that this rank holds: a minibatch drawn over the global batch, as every rank's part of it."""
    if world() == 1:
        return global_rows
    rows = shard_range(n)
    mine = (global_rows >= rows.start) & (global_rows < rows.stop)
    return global_rows[mine] - rows.start


# ----------------------------------------------------------------------------------------------------------------
# Reductions

def all_sum(x):
    """The sum over ranks of a tensor or a number, the same on every rank (itself in one process). No gradient."""
    if world() == 1:
        return x
    t = torch.as_tensor(x, dtype=torch.float64 if not torch.is_tensor(x) else None).detach().to(_device).clone()
    dist.all_reduce(t)
    return t.to(x.device) if torch.is_tensor(x) else t.item()


def mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of x over all ranks' elements (x.mean() in one process)."""
    if world() == 1:
        return x.mean()
    return all_sum(x.sum()) / all_sum(torch.tensor(float(x.numel()), device=x.device))


def share(mask: torch.Tensor):
    """This rank's part of the global count: mask.sum() / (all ranks' mask.sum()), 1 in one process. A loss that
    is a mean over this rank's tokens, multiplied by it, becomes sum over its tokens / all tokens (see the top)."""
    if world() == 1:
        return 1.0
    n = mask.sum().detach()
    return n / all_sum(n).clamp(min=1.0)


def all_reduce_grads(*models):
    """Sum every parameter's gradient over ranks, in one flat all-reduce per model (a missing gradient counts as
    0, for a rank with no tokens in a minibatch). Call between backward() and gradient clipping: the clip then
    sees the global gradient's norm, and every rank takes the same step."""
    if world() == 1:
        return
    for model in models:
        params = [p for p in model.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.view_as(p))


def gather(obj) -> list:
    """Every rank's obj (any picklable value), in rank order, on every rank: [obj] in one process."""
    if world() == 1:
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def gather_lists(items: list) -> list:
    """The concatenation of every rank's list, in rank order (a global batch reassembled from its shards)."""
    return [x for part in gather(items) for x in part]


def barrier():
    if world() > 1:
        dist.barrier()
