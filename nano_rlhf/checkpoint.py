"""Checkpoints: plain data (tensors, numbers, strings), written atomically, read with weights_only=True.

Every checkpoint carries what the next stage needs so it asks for no repeated flags:
    stage        "sft" | "rm" | "ppo" | "dpo" | "grpo"
    id           a short content hash, so a child can name its parent
    parents      {stage: id} of the checkpoints it was built from
    model_config GPTConfig as a dict
    tokenizer    Tokenizer.state_dict()
    model        the weights (state_dict)
    config       the training config as a dict
    metrics      what the run measured
    + stage-specific extras (the RM's reward normalisation, say)
load_checkpoint checks all of it before a model is built; load_sft_and_rm also checks the parent.
"""
import dataclasses
import hashlib
import math
import os

import torch

from nano_rlhf.common import UserError
from nano_rlhf.files import atomic_write
from nano_rlhf.model import GPT, GPTConfig, ValueModel
from nano_rlhf.tokenizer import Tokenizer

# the command that produces each stage's checkpoint, for the one-line errors
MAKES = {"sft": "python train_sft.py", "rm": "python train_rm.py", "ppo": "python train_ppo.py",
         "dpo": "python train_dpo.py", "grpo": "python train_grpo.py"}
KEYS = {"stage": str, "id": str, "parents": dict, "model_config": dict, "tokenizer": dict, "model": dict,
        "config": dict, "metrics": dict}
STAGE_CONFIG = {"sft": {"world_seed": (0, 2**32 - 1), "max_new_tokens": (1, 65536)},   # what later stages read
                "rm": {"n_val_pairs": (1, 10**6)}}                                      # from a config (ints)


def fingerprint(state_dict) -> str:
    """A content hash of every byte of every tensor (with its name, dtype and shape): the checkpoint's id."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k].detach().cpu().contiguous()
        h.update(f"{k} {t.dtype} {tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


def tokenizer_id(tok_state: dict) -> str:
    """Identity of a tokenizer, to check that two checkpoints speak the same token ids."""
    return hashlib.sha256(repr(sorted(tok_state.items())).encode()).hexdigest()[:12]


def non_finite(tensors: dict) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity."""
    return [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def save_checkpoint(path: str, *, stage: str, model, tokenizer: Tokenizer, config, metrics: dict,
                    parents: dict | None = None, **extra) -> dict:
    """Write atomically (temp file, fsync, rename: all or nothing), and only what is finite: a diverged model
    never replaces a good checkpoint."""
    gpt = model.gpt if isinstance(model, ValueModel) else model
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if bad := non_finite(sd):
        raise UserError(f"the trained {stage} model has non-finite weights ({bad[0]}, ...); nothing was saved, "
                        f"{path} is unchanged. Try a lower --lr")
    numbers = [v for d in extra.values() if isinstance(d, dict) for v in d.values() if isinstance(v, float)]
    if not all(map(math.isfinite, numbers)):
        raise UserError(f"non-finite values in {', '.join(extra)}; nothing was saved, {path} is unchanged")
    ckpt = {
        "stage": stage,
        "id": fingerprint(sd),
        "parents": parents or {},
        "model_config": dataclasses.asdict(gpt.cfg),
        "tokenizer": tokenizer.state_dict(),
        "model": sd,
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config),
        "metrics": metrics,
        **extra,
    }
    save_torch(path, ckpt)
    return ckpt


def save_torch(path: str, obj):
    """torch.save, atomically (all or nothing); a full disk is one line and leaves `path` as it was."""
    try:
        with atomic_write(path, "wb") as f:
            torch.save(obj, f)
    except RuntimeError as e:     # torch's writer turns a full disk into "unexpected pos ..."
        raise UserError(f"could not write {path} ({str(e).strip().splitlines()[0][:80]}): is the disk full? "
                        f"{path} is unchanged") from None


def load_checkpoint(path: str, stage: str | tuple[str, ...]) -> dict:
    """Load a checkpoint of the expected stage(s) and check that it builds (keys, shapes, tokenizer, finite
    weights), or raise a UserError that says what to run. Nothing in it is executed (weights_only=True)."""
    stages = (stage,) if isinstance(stage, str) else stage
    make = MAKES[stages[0]]
    if not os.path.exists(path):
        raise UserError(f"{path} not found: run `{make}` first (or check the path / --out-dir)")
    if not os.path.isfile(path):
        raise UserError(f"{path} is not a file: pass the path of a checkpoint written by `{make}`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror}); check its permissions") from None
    except Exception as e:  # truncated file, not a torch file, pickled code...
        raise UserError(f"{path} is not a readable nano-rlhf checkpoint ({type(e).__name__}: "
                        f"{str(e).strip().splitlines()[0][:120] if str(e).strip() else ''}); "
                        f"re-create it with `{make}`") from None
    if not isinstance(ckpt, dict) or "stage" not in ckpt:
        raise UserError(f"{path} is not a nano-rlhf checkpoint; re-create it with `{make}`")
    if ckpt["stage"] not in stages:
        raise UserError(f"{path} is a {ckpt['stage']!r} checkpoint, expected {' or '.join(map(repr, stages))}: "
                        f"run `{make}` first")
    if problem := checkpoint_problem(ckpt):
        raise UserError(f"{path} is damaged ({problem}): re-create it with `{MAKES.get(ckpt['stage'], make)}`")
    return ckpt


def checkpoint_problem(ckpt: dict) -> str | None:
    """What keeps a loaded checkpoint from building its models, or None: the one place that checks it."""
    for k, kind in KEYS.items():
        if not isinstance(ckpt.get(k), kind):
            return f"{k!r} missing" if k not in ckpt else f"{k!r} is not a {kind.__name__}"
    for k, (lo, hi) in STAGE_CONFIG.get(ckpt["stage"], {}).items():
        v = ckpt["config"].get(k)
        if type(v) is not int or not lo <= v <= hi:
            return f"config {k!r} is {v!r}, not a whole number from {lo} to {hi}"
    fields = {f.name for f in dataclasses.fields(GPTConfig)}
    mc = ckpt["model_config"]
    if set(mc) != fields:
        return f"model_config fields {sorted(set(mc) ^ fields)} unknown or missing"
    sizes = ("block_size", "vocab_size", "n_layer", "n_head", "n_embd")
    if not all(type(mc[k]) is int and 0 < mc[k] <= 2**20 for k in sizes) or mc["n_embd"] % mc["n_head"]:
        return "model_config sizes are not positive whole numbers with n_embd divisible by n_head"
    if (mc["attn"] not in ("sdpa", "explicit") or type(mc["bias"]) is not bool
            or type(mc["dropout"]) not in (int, float) or not 0 <= mc["dropout"] < 1):
        return "model_config attn, bias or dropout out of range"
    if not all(isinstance(t, torch.Tensor) for t in ckpt["model"].values()):
        return "weights that are not tensors"
    with torch.random.fork_rng(devices=[]):    # build the architecture to compare names and shapes, leaving the
        ref = (ValueModel if ckpt["stage"] == "rm" else GPT)(GPTConfig(**mc))   # seeded random stream untouched
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in ckpt["model"].items()}
    if want.keys() != have.keys():
        return f"weights {sorted(want.keys() ^ have.keys())[:3]} missing or unknown"
    if bad := [k for k in want if want[k] != have[k]]:
        return f"{bad[0]} has shape {have[bad[0]]}, model_config says {want[bad[0]]}"
    if bad := non_finite(ckpt["model"]):
        return f"non-finite weights in {bad[0]}"
    if ckpt["stage"] == "rm":
        norm = ckpt.get("reward_norm")
        if not (isinstance(norm, dict) and all(isinstance(norm.get(k), float) and math.isfinite(norm[k])
                                               for k in ("gain", "bias"))):
            return "reward_norm missing or not finite"
    try:
        tok = Tokenizer.from_state_dict(ckpt["tokenizer"])
    except UserError:
        raise
    except Exception as e:
        return f"tokenizer unreadable: {type(e).__name__}"
    if tok.vocab_size != mc["vocab_size"]:
        return f"tokenizer has {tok.vocab_size} ids, the model {mc['vocab_size']}"
    return None


def load_sft_and_rm(out_dir: str) -> tuple[dict, dict]:
    """<out_dir>/sft.pt and <out_dir>/rm.pt, checked to be one chain: the RM was trained from THIS SFT model (on
    its samples, normalised on its samples), so PPO, best-of-n and the experiments may use them together."""
    sft = load_checkpoint(f"{out_dir}/sft.pt", "sft")
    rm = load_checkpoint(f"{out_dir}/rm.pt", "rm")
    check_parent(rm, sft, f"{out_dir}/rm.pt", f"{out_dir}/sft.pt")
    return sft, rm


def check_parent(child: dict, sft: dict, child_path: str, sft_path: str, key: str = "sft", redo: str = ""):
    """The child checkpoint was built from this SFT checkpoint (its recorded parent `key`: "sft", or "init" for an
    SFT fine-tune), or a one-line error ending in what to re-run (`redo`; by default the child's own stage)."""
    redo = redo or f"`{MAKES[child['stage']]}` on this SFT checkpoint"
    if tokenizer_id(child["tokenizer"]) != tokenizer_id(sft["tokenizer"]):
        raise UserError(f"{child_path} was built on a different tokenizer than {sft_path}: re-run {redo}")
    if child["parents"].get(key) != sft["id"]:
        raise UserError(f"{child_path} was built from another SFT model (id {child['parents'].get(key)}) than "
                        f"{sft_path} (id {sft['id']}): re-run {redo}")


def build_policy(ckpt: dict, device) -> GPT:
    """A GPT with the checkpoint's weights (sft, ppo and dpo checkpoints; load_checkpoint checked they fit)."""
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


def build_critic(init: str, sft: dict, rm_ckpt: dict, device) -> ValueModel:
    """PPO's critic (--critic-init): "rm", the reward model with its normalisation folded into the head, so V starts
    on the scale of the rewards it predicts (InstructGPT, Ouyang et al. 2022, starts the value function from the
    RM); "sft", the SFT trunk with a fresh
    head; "scratch", a fresh model of the same shape."""
    if init == "rm":
        critic = build_value_model(rm_ckpt, device)
        critic.head.fold_affine(rm_ckpt["reward_norm"]["gain"], rm_ckpt["reward_norm"]["bias"])
        return critic
    if init == "sft":
        return build_value_model(sft, device)
    return ValueModel(GPTConfig(**sft["model_config"])).to(device)


def load_tokenizer(ckpt: dict) -> Tokenizer:
    return Tokenizer.from_state_dict(ckpt["tokenizer"])
