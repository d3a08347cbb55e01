"""Plumbing shared by the train_*.py scripts: flags from a dataclass, device, seeds, schedules, one-line errors."""
import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
from contextlib import nullcontext

import numpy as np
import torch


class UserError(Exception):
    """Bad input from the user (a missing checkpoint, an impossible flag): printed as one line, exit code 2."""


def run_cli(main, cfg):
    """Call main(cfg); turn a UserError (or a data error) into one line on stderr and a non-zero exit."""
    from nano_rlhf.data import DataError
    sys.stdout.reconfigure(line_buffering=True)   # progress lines appear as they happen, also in a log file
    try:
        return main(cfg)
    except (UserError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


# ----------------------------------------------------------------------------------------------------------------
# Configuration: every dataclass field becomes a --flag; a preset overrides defaults, flags override presets.

def parse_config(cls, presets: dict[str, dict], argv=None):
    """Build `cls` from the command line. Field metadata "help" is the flag's help text."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default="default", choices=sorted(presets))
    preset = pre.parse_known_args(argv)[0].preset
    base = dataclasses.replace(cls(), **presets[preset])
    parser = argparse.ArgumentParser(description=(sys.modules[cls.__module__].__doc__ or "").split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(base, f.name)
        help_ = f.metadata.get("help", "")
        if f.name == "preset":
            parser.add_argument(flag, default=preset, choices=sorted(presets), help=help_)
        elif isinstance(default, bool):
            parser.add_argument(flag, default=default, action=argparse.BooleanOptionalAction, help=help_)
        elif "choices" in f.metadata:
            parser.add_argument(flag, default=default, choices=f.metadata["choices"], help=help_)
        else:   # the flag's type is the default's type; a None default takes metadata["type"] (str if absent)
            kind = type(default) if default is not None else f.metadata.get("type", str)
            parser.add_argument(flag, default=default, type=kind, help=help_)
    return cls(**vars(parser.parse_args(argv)))


def field(default, help: str, **extra):
    """A dataclass field with a one-line help (shown by --help)."""
    return dataclasses.field(default=default, metadata={"help": help, **extra})


def with_preset(cls, presets: dict[str, dict], preset: str = "default", **overrides):
    """Config for tests and notebooks: the preset's values, then the overrides (same rules as the CLI)."""
    return dataclasses.replace(cls(), **{**presets[preset], "preset": preset, **overrides})


# ----------------------------------------------------------------------------------------------------------------
# Runtime

def setup_runtime(seed: int, device: str, threads: int):
    """Seed everything, fix the CPU thread count, pick the device. Returns (device, autocast context factory).

    Reproducible on CPU: same seed, same thread count, same torch version -> same numbers.
    On CUDA, matmuls run under bf16 autocast; log-softmax, ratios, KL and losses are computed in fp32 by the code.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads > 0:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device} asked for, but CUDA is not available; use --device cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        return dev, lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return dev, nullcontext


def cosine_lr(step: int, total: int, lr: float, warmup: int = 0, min_ratio: float = 0.1) -> float:
    """Linear warmup for `warmup` steps, then cosine decay from lr to min_ratio * lr at `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def check_finite(loss, what: str, step: int):
    """Stop before anything is saved when training diverges."""
    if not torch.isfinite(loss).all():
        raise UserError(f"non-finite {what} at step {step}; nothing was saved. Try a lower --lr")


def make_optimizer(params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.95)):
    """AdamW, fused on CUDA and foreach on CPU (one kernel per step instead of one per tensor)."""
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]          # weights decay; biases and LayerNorm gains do not
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = params[0].is_cuda
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None, foreach=None if fused else True)


def set_lr(opt, lr: float):
    for g in opt.param_groups:
        g["lr"] = lr


def write_json(path: str, obj):
    """Write JSON atomically (temp file + rename), so a crash never leaves half a summary."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0


def mean_se(xs) -> tuple[float, float]:
    """Mean and its standard error (sample std / sqrt(n))."""
    a = np.asarray(xs, dtype=np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    se = a.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else float("nan")
    return float(a.mean()), float(se)
