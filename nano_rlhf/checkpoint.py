"""Checkpoints: plain data (tensors, numbers, strings), written atomically, read with weights_only=True.

Every checkpoint carries what the next stage needs so it asks for no repeated flags:
    stage        "sft" | "rm" | "ppo" | "dpo"
    id           a short content hash, so a child can name its parent
    parents      {stage: id} of the checkpoints it was built from
    model_config GPTConfig as a dict
    tokenizer    Tokenizer.state_dict()
    model        the weights (state_dict)
    config       the training config as a dict
    metrics      what the run measured
    + stage-specific extras (the RM's reward normalisation, say)
"""
import dataclasses
import hashlib
import os

import torch

from nano_rlhf.common import UserError
from nano_rlhf.model import GPT, GPTConfig, ValueModel
from nano_rlhf.tokenizer import Tokenizer

# the command that produces each stage's checkpoint, for the one-line errors
MAKES = {"sft": "python train_sft.py", "rm": "python train_rm.py", "ppo": "python train_ppo.py",
         "dpo": "python train_dpo.py"}


def _fingerprint(state_dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state_dict):
        h.update(k.encode())
        h.update(state_dict[k].detach().float().cpu().numpy().tobytes()[:4096])
    return h.hexdigest()[:12]


def tokenizer_id(tok_state: dict) -> str:
    """Identity of a tokenizer, to check that two checkpoints speak the same token ids."""
    return hashlib.sha256(repr(sorted(tok_state.items())).encode()).hexdigest()[:12]


def save_checkpoint(path: str, *, stage: str, model, tokenizer: Tokenizer, config, metrics: dict,
                    parents: dict | None = None, **extra) -> dict:
    """Write atomically: torch.save to a temp file in the same folder, then os.replace (all or nothing)."""
    gpt = model.gpt if isinstance(model, ValueModel) else model
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ckpt = {
        "stage": stage,
        "id": _fingerprint(sd),
        "parents": parents or {},
        "model_config": dataclasses.asdict(gpt.cfg),
        "tokenizer": tokenizer.state_dict(),
        "model": sd,
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config),
        "metrics": metrics,
        **extra,
    }
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return ckpt


def load_checkpoint(path: str, stage: str | tuple[str, ...]) -> dict:
    """Load a checkpoint of the expected stage(s), or raise a UserError that says what to run."""
    stages = (stage,) if isinstance(stage, str) else stage
    make = MAKES[stages[0]]
    if not os.path.exists(path):
        raise UserError(f"{path} not found: run `{make}` first (or pass the right --out-dir)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, not a torch file, pickled code...
        raise UserError(f"{path} is not a readable nano-rlhf checkpoint ({type(e).__name__}: "
                        f"{str(e).strip().splitlines()[0][:120] if str(e).strip() else ''}); "
                        f"re-create it with `{make}`") from None
    if not isinstance(ckpt, dict) or "stage" not in ckpt:
        raise UserError(f"{path} is not a nano-rlhf checkpoint; re-create it with `{make}`")
    if ckpt["stage"] not in stages:
        raise UserError(f"{path} is a {ckpt['stage']!r} checkpoint, expected {' or '.join(map(repr, stages))}: "
                        f"run `{make}` first")
    return ckpt


def load_sft_and_rm(out_dir: str) -> tuple[dict, dict]:
    """<out_dir>/sft.pt and <out_dir>/rm.pt, checked to speak the same token ids (PPO, best-of-n)."""
    sft = load_checkpoint(f"{out_dir}/sft.pt", "sft")
    rm = load_checkpoint(f"{out_dir}/rm.pt", "rm")
    if tokenizer_id(rm["tokenizer"]) != tokenizer_id(sft["tokenizer"]):
        raise UserError(f"{out_dir}/rm.pt was built on a different tokenizer than {out_dir}/sft.pt: "
                        "re-run `python train_rm.py` on this SFT checkpoint")
    return sft, rm


def build_policy(ckpt: dict, device) -> GPT:
    """A GPT with the checkpoint's weights (sft, ppo and dpo checkpoints)."""
    model = GPT(GPTConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device)


def build_value_model(ckpt: dict, device) -> ValueModel:
    """A ValueModel from an rm checkpoint (or a GPT trunk of an sft checkpoint with a fresh head)."""
    vm = ValueModel(GPTConfig(**ckpt["model_config"]))
    if ckpt["stage"] == "rm":
        vm.load_state_dict(ckpt["model"])
    else:
        vm.gpt.load_state_dict(ckpt["model"])
    return vm.to(device)


def load_tokenizer(ckpt: dict) -> Tokenizer:
    return Tokenizer.from_state_dict(ckpt["tokenizer"])
