"""Reward-model ensembles (the overview's "several reward constraints" against reward hacking; lesson 6).

    python train_ppo.py --ensemble a/rm.pt,b/rm.pt,c/rm.pt --ensemble-agg min

K reward models, each trained on a bootstrap resample of the same comparisons (lessons/experiments/ensembles.py
makes them), score every response; PPO's reward is an aggregate of their K scores (Coste et al. 2023):
    mean   the average: less variance than one RM
    min    the worst case: a response scores high only if every member agrees ("worst-case optimisation")
    lcb    mean - 1 std over the members, a lower confidence bound (Coste et al.'s uncertainty-weighted variant
           subtracts the variance instead): where the members disagree, the policy is off the data they share
Each member's score is first normalised with its own gain and bias (mean 0, std 1 on SFT samples, train_rm.py),
since the minimum and the lower bound depend on each member's scale and offset. Members trained from one SFT
trunk on one set of labels share most of their errors (Eisenstein et al. 2023): an ensemble narrows the hole a
policy can find, it does not close it.
"""
import os

import torch
from torch import nn

from nano_rlhf.checkpoint import build_value_model, check_parent, load_checkpoint

AGGREGATES = ("mean", "min", "lcb")
IDENTITY = {"gain": 1.0, "bias": 0.0}       # the ensemble's own normalisation: its members are normalised already


# [lesson:aggregate]
def aggregate(scores: torch.Tensor, how: str) -> torch.Tensor:
    """Combine K members' normalised scores.  (K, ...) -> (...). mean: the members' average; min: the worst case
    (Coste et al. 2023's WCO); lcb: mean - std, a lower confidence bound (the unbiased std over the K)."""
    # BEGIN SOLUTION
    if how == "mean":
        return scores.mean(0)
    if how == "min":
        return scores.min(0).values
    if how == "lcb":
        return scores.mean(0) - scores.std(0)
    # END SOLUTION
    raise ValueError(f"unknown ensemble aggregate {how!r}")   # internal: the flag is checked by choices=
# [/lesson:aggregate]


class EnsembleRM(nn.Module):
    """K value models as one: forward(idx, attention_mask) -> (B, T), the aggregate of the members' normalised
    values at every position (PPO reads the EOS's, as it reads one RM's). Its own normalisation is the identity."""

    def __init__(self, members: list, norms: list[dict], how: str):
        super().__init__()
        self.members, self.norms, self.how = nn.ModuleList(members), norms, how

    def forward(self, idx, attention_mask=None):
        values = torch.stack([n["gain"] * m(idx, attention_mask).float() + n["bias"]
                              for m, n in zip(self.members, self.norms)])                   # (K, B, T)
        return aggregate(values, self.how)


def paths_problem(spec: str) -> str | None:
    """--ensemble: '' (no ensemble) or at least two comma-separated paths of existing files."""
    if not spec:
        return None
    paths = [p for p in spec.split(",") if p]
    if len(paths) < 2:
        return f"--ensemble {spec!r}: give at least two rm.pt paths, separated by commas"
    missing = [p for p in paths if not os.path.isfile(p)]
    return f"--ensemble: no such file: {', '.join(missing)} (train the members first)" if missing else None


def load_ensemble(spec: str, sft: dict, sft_path: str, how: str, device) -> EnsembleRM:
    """The members of --ensemble, each checked to be a reward model trained from this SFT checkpoint."""
    members, norms = [], []
    for path in [p for p in spec.split(",") if p]:
        ckpt = load_checkpoint(path, "rm")
        check_parent(ckpt, sft, path, sft_path)
        members.append(build_value_model(ckpt, device))
        norms.append(ckpt["reward_norm"])
    ens = EnsembleRM(members, norms, how).to(device).eval()
    for m in ens.members:
        m.gpt.set_dropout(0.0)
    return ens.requires_grad_(False)
