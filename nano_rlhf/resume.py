"""Resuming an interrupted run of any training script (train_sft, train_rm, train_ppo, train_dpo, train_grpo).

At every evaluation before the last (SFT: every validation loss; RM: every held-out accuracy point; DPO: every
progress line), the run writes <out_dir>/<stage>_state.pt, atomically: the trained models and their optimisers,
the iteration (or step), the random streams it draws from (Python's, the sampling generator, torch's global one
for dropout), the metrics rows so far, and what else the loop carries (PPO's adaptive beta, GRPO's pass@k
reports). Data a stage samples or shuffles from its seeds (SFT's batches, the RM's comparisons, DPO's batches) is
not saved: the resumed run draws it again and skips what was done. `--resume` loads the state and continues from
that iteration; the run then ends with the same numbers an uninterrupted run ends with, on the same machine,
threads and torch (tests/test_resume.py). The file is removed once the run has saved its checkpoint. A state
written by a run with other flags is refused: it would continue some other run's curve.
"""
import dataclasses
import json
import os

import torch

from nano_rlhf import distributed
from nano_rlhf.checkpoint import save_torch
from nano_rlhf.common import UserError


def state_path(out_dir: str, stage: str) -> str:
    return f"{out_dir}/{stage}_state.pt"


def save_state(cfg, stage: str, it: int, models: dict, optimizers: dict, rng, gen, metrics, **extra):
    """Everything the loop needs to continue from the start of iteration `it` (after its evaluation). rng (a
    random.Random) and gen (a torch.Generator) may be None; torch's global stream is always kept. Under torchrun,
    rank 0 writes it (its streams: the shared ones, the same on every rank; each rank's own sampling streams are
    derived from (seed, rank, iteration), so they need no saving)."""
    if not distributed.is_main():
        return
    metrics.file.flush()
    with open(metrics.partial) as f:
        rows = [json.loads(line) for line in f]
    state = {"stage": stage, "config": dataclasses.asdict(cfg), "iteration": it,
             "models": {k: m.state_dict() for k, m in models.items()},
             "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
             "rng": rng.getstate() if rng else None, "gen": gen.get_state() if gen else None,
             "torch_rng": torch.get_rng_state(), "metrics": rows, "extra": extra}
    save_torch(state_path(cfg.out_dir, stage), state)


def restore(cfg, stage: str, models: dict, optimizers: dict, rng, gen, metrics) -> tuple[int, dict]:
    """Load <out_dir>/<stage>_state.pt into the models, optimisers, random streams and metrics log (checked to come
    from a run with the same flags) -> (the iteration to continue from, the extras it saved)."""
    path = state_path(cfg.out_dir, stage)
    if not os.path.isfile(path):
        raise UserError(f"--resume: {path} not found, so there is no interrupted {stage} run to continue in "
                        f"{cfg.out_dir}/ (a finished run removes it): run without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        why = None if isinstance(state, dict) and state.get("stage") == stage else "not this stage's state"
    except Exception as e:      # truncated, not a torch file
        why = type(e).__name__
    if why:
        raise UserError(f"{path} is not a readable {stage} training state ({why}); delete it and run without "
                        "--resume")
    now = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "resume"}
    then = {k: v for k, v in state["config"].items() if k != "resume"}
    if now != then:
        changed = ", ".join(f"--{k.replace('_', '-')} {then.get(k)!r} -> {now.get(k)!r}" for k in sorted(now)
                            if now.get(k) != then.get(k))
        raise UserError(f"{path} was written by a run with other flags ({changed}): resume with the same flags, "
                        "or run without --resume")
    for k, m in models.items():
        m.load_state_dict(state["models"][k])
    for k, o in optimizers.items():
        o.load_state_dict(state["optimizers"][k])
    if rng:
        rng.setstate(state["rng"])
    if gen:
        gen.set_state(state["gen"])              # a CPU byte tensor, for CUDA generators too
    torch.set_rng_state(state["torch_rng"])      # dropout (SFT)
    for row in state["metrics"]:
        metrics.log(row.pop("kind"), **row)
    print(f"resuming from {path} at {state['iteration']}")
    return state["iteration"], state["extra"]


def finish(cfg, stage: str):
    """The run saved its checkpoint: its training state is no longer needed."""
    if distributed.is_main() and os.path.isfile(path := state_path(cfg.out_dir, stage)):
        os.remove(path)
