"""Plumbing shared by the train_*.py scripts: flags from a dataclass, device, seeds, schedules, one-line errors."""
import argparse
import dataclasses
import errno
import math
import os
import random
import sys
import time
from contextlib import nullcontext

import numpy as np
import torch

from nano_rlhf import distributed


class UserError(Exception):
    """Bad input from the user (a missing checkpoint, an impossible flag): printed as one line, exit code 2."""


def warn(msg: str):
    """A one-line warning on stderr: the run goes on."""
    print(f"warning: {msg}", file=sys.stderr)


def run_cli(main, cfg):
    """Call main(cfg) the way every script's command line does: a UserError or a data error becomes one line on
    stderr and exit code 2; Ctrl-C becomes one line and exit code 130 (files are only ever replaced whole, so
    each is the previous one or this run's, and the metrics so far are in <stage>_metrics.partial.jsonl); running out of
    memory or disk is one line too. Anything else is a bug in nano-rlhf and keeps its traceback."""
    from nano_rlhf import interrupts_raise
    from nano_rlhf.data import DataError
    sys.stdout.reconfigure(line_buffering=True)   # progress lines appear as they happen, also in a log file
    interrupts_raise()                            # Ctrl-C from here on: KeyboardInterrupt, handled below
    try:
        return main(cfg)
    except (UserError, DataError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        out = getattr(cfg, "out_dir", "")
        print()                                        # end the line the terminal's ^C is on
        print(f"interrupted: no file in {out}/ was left half-written (each is the previous one or this run's, "
              "whole); this run's metrics so far are in its *_metrics.partial.jsonl (--resume continues from its "
              "last evaluation)" if out else "interrupted",
              file=sys.stderr)
        sys.exit(130)
    except (MemoryError, RuntimeError) as e:         # torch.OutOfMemoryError is a RuntimeError
        if not out_of_memory(e):
            raise
        fail("out of memory: try a smaller batch, fewer samples or a smaller model")
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR,
                           errno.ENOTDIR, errno.EEXIST):
            raise
        fix = "free some space" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "check its permissions"
        fail(f"could not write {e.filename or 'a file'}: {e.strerror}; {fix}, or choose another --out-dir")


def out_of_memory(e: BaseException) -> bool:
    """MemoryError, torch's (CUDA) OutOfMemoryError, or the RuntimeError its CPU allocator raises."""
    return isinstance(e, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in str(e)


def fail(msg: str):
    """Print one line, exit code 2 (the convention of argparse and of every nano-rlhf script for bad input)."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is ONE line that says what is wrong and how to get the help (exit code 2)."""

    def error(self, message):
        fail(f"{message} (see `{self.prog} --help`)")


def bounded(kind, lo, hi):
    """An argparse type for the scripts that use plain argparse flags (chat, the experiments, the benches): a finite
    `kind` (int or float) from lo to hi, else argparse's one-line error."""
    def parse(text):
        x = kind(text)
        if not (math.isfinite(x) and lo <= x <= hi):
            raise argparse.ArgumentTypeError(f"{text}: must be a number from {lo} to {hi}")
        return x
    parse.__name__ = kind.__name__          # argparse's "invalid int value: 'nan'" names the type by it
    return parse


# ----------------------------------------------------------------------------------------------------------------
# Configuration: every dataclass field becomes a --flag; a preset overrides defaults, flags override presets.
# Each field declares its constraint where it is declared, and check_config enforces them all before any work:
#     ge / gt / le / lt   bounds (ints and floats; a float must also be finite)
#     choices             the allowed values
#     path                "file" (must exist, non-empty flag) or "out_dir" (a folder we can create or write into)
#     check               a function value -> error message or None (e.g. the device)
# and a config class may add cross-field checks in a method `problems(self) -> list[str]`.

def field(default, help: str, **constraints):
    """A dataclass field with a one-line help (shown by --help) and its constraints (see above)."""
    return dataclasses.field(default=default, metadata={"help": help, **constraints})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bounds(meta) -> str:
    parts = [f"{op} {meta[k]:g}" for k, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")) if k in meta]
    return " and ".join(parts)


def field_problem(f, value) -> str | None:
    """What is wrong with one field's value, or None."""
    meta, name = f.metadata, flag(f.name)
    if "choices" in meta and value not in meta["choices"]:
        return f"{name} {value!r}: choose one of {', '.join(map(str, meta['choices']))}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} {value}: must be a finite number"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = (("gt" not in meta or value > meta["gt"]) and ("ge" not in meta or value >= meta["ge"]) and
              ("lt" not in meta or value < meta["lt"]) and ("le" not in meta or value <= meta["le"]))
        if not ok:
            return f"{name} {value:g}: must be {_bounds(meta)}"
    if meta.get("path") == "file" and value:
        if not os.path.exists(value):
            return f"{name} {value}: no such file"
        if not os.path.isfile(value):
            return f"{name} {value}: not a regular file (a folder, a pipe, a device?)"
        if not os.access(value, os.R_OK):
            return f"{name} {value}: not readable"
    if meta.get("path") == "out_dir":
        return out_dir_problem(value, name)
    if "check" in meta:
        return meta["check"](value)
    return None


def out_dir_problem(path: str, name: str = "--out-dir") -> str | None:
    """A folder the run can write into: it exists and is writable, or can be created (checked without creating
    anything, so that a refused run leaves no trace)."""
    if not path:
        return f"{name}: empty path"
    p = os.path.abspath(path)
    if os.path.islink(p) and not os.path.exists(p):
        return f"{name} {path}: a symbolic link to nothing ({os.readlink(p)})"
    if os.path.exists(p) and not os.path.isdir(p):
        return f"{name} {path}: is a file, not a folder"
    while not os.path.exists(p):
        p = os.path.dirname(p)
    if not os.path.isdir(p):
        return f"{name} {path}: cannot be created, {p} is a file"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"{name} {path}: {p} is not writable"
    return None


def check_outputs(out_dir: str, *names: str):
    """Before any work: every file the run will write into out_dir is a regular file or does not exist yet (a
    folder or a pipe in its place would only fail at the end, after the training)."""
    for name in names:
        path = os.path.join(out_dir, name)
        if os.path.lexists(path) and not os.path.isfile(path):
            raise UserError(f"{path} is in the way (a folder, a pipe or a broken link where the run writes a file): "
                            "move it, or pass another --out-dir")


def check_config(cfg):
    """Every field's declared constraint, then the config's own cross-field checks: UserError naming all that is
    wrong, one problem per '; '. Called before any work (parse_config, with_preset, setup_run)."""
    problems = [p for f in dataclasses.fields(cfg) if (p := field_problem(f, getattr(cfg, f.name)))]
    if not problems and hasattr(cfg, "problems"):
        problems = cfg.problems()
    if problems:
        raise UserError("; ".join(problems))
    return cfg


def parse_config(cls, presets: dict[str, dict], argv=None):
    """Build `cls` from the command line and check it (one line and exit code 2 if anything is wrong)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)       # `python -m nano_rlhf.best_of_n`: its name
    prog = (f"python -m {spec.name}" if spec else f"python {os.path.basename(sys.argv[0])}") if argv is None else None
    pre = ArgumentParser(add_help=False, prog=prog)
    pre.add_argument("--preset", default="default", choices=sorted(presets))
    preset = pre.parse_known_args(argv)[0].preset
    base = dataclasses.replace(cls(), **presets[preset])
    parser = ArgumentParser(description=(sys.modules[cls.__module__].__doc__ or "").split("\n")[0], prog=prog,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(cls):
        default = getattr(base, f.name)
        help_ = f.metadata.get("help", "").replace("%", "%%")   # argparse formats help with %: "15%" would crash
        if f.name == "preset":
            parser.add_argument(flag(f.name), default=preset, choices=sorted(presets), help=help_)
        elif isinstance(default, bool):
            parser.add_argument(flag(f.name), default=default, action=argparse.BooleanOptionalAction, help=help_)
        elif "choices" in f.metadata:
            parser.add_argument(flag(f.name), default=default, choices=f.metadata["choices"], help=help_)
        else:   # the flag's type is the default's type; a None default takes metadata["type"] (str if absent)
            kind = type(default) if default is not None else f.metadata.get("type", str)
            parser.add_argument(flag(f.name), default=default, type=kind, help=help_)
    try:
        return check_config(cls(**vars(parser.parse_args(argv))))
    except UserError as e:
        fail(f"{e} (see `{parser.prog} --help`)")


def with_preset(cls, presets: dict[str, dict], preset: str = "default", **overrides):
    """Config for tests and notebooks: the preset's values, then the overrides (same rules and checks as the CLI)."""
    return check_config(dataclasses.replace(cls(), **{**presets[preset], "preset": preset, **overrides}))


def pick_device(device: str) -> torch.device:
    """--device as a torch.device: 'auto' is cuda when a GPU is there, else cpu (check it first: device_problem)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_problem(device: str) -> str | None:
    """'auto', 'cpu', 'cuda', 'cuda:N' (N an existing GPU) or 'mps'; None if usable."""
    try:
        dev = pick_device(device)
    except (RuntimeError, ValueError):
        return f"--device {device!r}: not a device; use auto, cpu, cuda or cuda:N"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"--device {device} asked for, but CUDA is not available; use --device cpu"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"--device {device}: only {torch.cuda.device_count()} GPU(s) here"
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            return f"--device {device} asked for, but MPS is not available; use --device cpu"
    elif dev.type != "cpu":
        return f"--device {device!r}: nano-rlhf runs on cpu, cuda or mps"
    return None


# ----------------------------------------------------------------------------------------------------------------
# Runtime

def setup_run(cfg, outputs=()):
    """check_config and check_outputs (the files the run writes into cfg.out_dir), then setup_runtime with the
    config's seed, device and threads: the first line of every main."""
    check_config(cfg)
    check_outputs(cfg.out_dir, *outputs)
    return setup_runtime(cfg.seed, cfg.device, cfg.threads)


def setup_runtime(seed: int, device: str, threads: int):
    """Seed everything, fix the CPU thread count, pick the device. Returns (device, autocast context factory).

    Reproducible on CPU: same seed, same thread count, same torch version -> same numbers.
    On CUDA, matmuls run under bf16 autocast; log-softmax, ratios, KL and losses are computed in fp32 by the code.
    """
    if problem := device_problem(device):
        raise UserError(problem)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads > 0:
        cores = max(1, (os.cpu_count() or 1) // distributed.local_processes())   # torchrun: ranks share the cores
        threads = min(threads, cores)                 # more threads than cores only wait for each other
        torch.set_num_threads(threads)
        if threads > 1 and (busy := busy_cores()) > cores - threads + 0.5:
            warn(f"other programs keep {busy:.1f} of this machine's {cores} cores busy: {threads} threads then wait "
                 "for each other at every operation; --threads 1 may be faster")
    dev = distributed.init(pick_device(device))    # under torchrun: join the other ranks (a no-op otherwise)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        return dev, lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return dev, nullcontext


def busy_cores(seconds: float = 0.1) -> float:
    """About how many cores other programs keep busy right now: the machine's non-idle CPU time over `seconds`
    (/proc/stat; 0 where there is none). Called while this process waits, so its own work is not counted."""
    def snapshot():
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]            # total, idle + iowait
    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return 0.0
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / max(1, total1 - total0))


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


def check_finite_weights(model, what: str, step: int):
    """Stop before anything is sampled or saved when an update has broken the weights (the loss may still have
    been finite: a NaN can appear in the very last step)."""
    if not bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()):   # one sync, not one
                                                                                              # per tensor
        raise UserError(f"the {what} weights became non-finite at step {step}; nothing was saved. Try a lower --lr")


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


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0


class Phases:
    """Where a run's wall time goes. `phases.lap("forward")` charges the time since the previous lap (or since
    the start) to "forward" and returns it; `table()` is the profile every train_*.py prints at its end, and
    `report()` the same numbers for its summary ("time_phases"), so a change can be judged by the same profile
    (README, "Where the time goes"). CPU work is synchronous, so a lap is exact; CUDA kernels run asynchronously,
    so on a GPU each lap first waits for them (torch.cuda.synchronize): a little slower, but honest."""

    def __init__(self, device="cpu"):
        self.sync = torch.device(device).type == "cuda"
        self.seconds: dict[str, float] = {}
        self.start = self.last = time.perf_counter()

    def lap(self, name: str) -> float:
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        dt, self.last = now - self.last, now
        self.seconds[name] = self.seconds.get(name, 0.0) + dt
        return dt

    def report(self) -> dict:
        """{phase: seconds} in the order the phases first ran, and their total."""
        return {**{k: round(v, 3) for k, v in self.seconds.items()}, "total": round(sum(self.seconds.values()), 3)}

    def table(self) -> str:
        total = sum(self.seconds.values()) or 1.0
        width = max(map(len, self.seconds), default=5)
        rows = [f"  {k:<{width}} {v:7.1f}s {v / total:6.1%}" for k, v in
                sorted(self.seconds.items(), key=lambda kv: -kv[1])]
        return "\n".join([f"where the time went ({total:.1f}s):"] + rows)
