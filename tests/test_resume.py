"""--resume (nano_rlhf/resume.py): an interrupted run of each training script, resumed, ends with the numbers and
weights of an uninterrupted one; a state from other flags, a damaged one, or none, is a one-line error."""
import json
import shutil

import pytest
import torch

import train_dpo
import train_grpo
import train_ppo
import train_rm
import train_sft
from nano_rlhf.common import UserError, with_preset

SCRIPTS = {"ppo": train_ppo, "grpo": train_grpo}


def run(module, out, **over):
    return module.main(with_preset(module.Config, module.PRESETS, "test", out_dir=str(out), **over))


def folder(path, source, files=("sft.pt", "rm.pt")):
    path.mkdir()
    for f in files:
        shutil.copyfile(source / f, path / f)
    return path


def interrupted(monkeypatch, module, name: str, at_call: int, fn):
    """fn() with module.<name> raising KeyboardInterrupt at its at_call-th call: a run cut mid-way (Ctrl-C)."""
    real, calls = getattr(module, name), []

    def cut(*a, **kw):
        calls.append(1)
        if len(calls) == at_call:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(module, name, cut)
    with pytest.raises(KeyboardInterrupt):
        fn()
    monkeypatch.setattr(module, name, real)


def same_weights(a, b):
    a, b = (torch.load(p, weights_only=True)["model"] for p in (a, b))
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.requires_solutions
@pytest.mark.parametrize("stage", sorted(SCRIPTS))
def test_an_interrupted_run_resumed_ends_as_an_uninterrupted_one(stage, rm_chain_dir, tmp_path, monkeypatch):
    module = SCRIPTS[stage]
    whole = run(module, folder(tmp_path / "whole", rm_chain_dir), iterations=4)
    assert not (tmp_path / "whole" / f"{stage}_state.pt").exists()          # a finished run leaves no state
    cut = folder(tmp_path / "cut", rm_chain_dir)
    # the 4th update: after iteration 2's evaluation and state
    interrupted(monkeypatch, module, "update", 4, lambda: run(module, cut, iterations=4))
    assert (cut / f"{stage}_state.pt").exists() and not (cut / f"{stage}.pt").exists()
    resumed = run(module, cut, iterations=4, resume=True)

    for k in ("kl", f"gold_reward_{stage}", "win_rate_vs_sft", "gold_by_prompt", "history"):
        assert resumed[k] == whole[k], k
    iters = lambda d: [(r["iteration"], r["kl"], r["rm"]) for r in map(json.loads, open(d / f"{stage}_metrics.jsonl"))
                       if r["kind"] == "iteration"]  # noqa: E731
    assert iters(cut) == iters(tmp_path / "whole")                             # the same curve, every row once
    assert same_weights(tmp_path / "whole" / f"{stage}.pt", cut / f"{stage}.pt")


@pytest.mark.requires_solutions
def test_resume_without_a_state_or_with_other_flags_is_one_line(rm_chain_dir, tmp_path, monkeypatch):
    out = folder(tmp_path / "run", rm_chain_dir)
    with pytest.raises(UserError, match="no interrupted ppo run to continue"):
        run(train_ppo, out, resume=True)
    interrupted(monkeypatch, train_ppo, "update", 1, lambda: run(train_ppo, out))
    with pytest.raises(UserError, match=r"other flags \(--beta 0.1 -> 0.2\)"):
        run(train_ppo, out, resume=True, beta=0.2)
    (out / "ppo_state.pt").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable ppo training state"):
        run(train_ppo, out, resume=True)


@pytest.mark.requires_solutions
def test_an_interrupted_sft_run_resumed_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """SFT (with dropout: torch's own random stream is part of the state) cut after its step-30 validation."""
    (tmp_path / "whole").mkdir()
    (tmp_path / "cut").mkdir()
    whole = run(train_sft, tmp_path / "whole", dropout=0.1)
    interrupted(monkeypatch, train_sft, "sft_loss", 41, lambda: run(train_sft, tmp_path / "cut", dropout=0.1))
    resumed = run(train_sft, tmp_path / "cut", dropout=0.1, resume=True)
    for k in ("gold_reward", "val_loss", "eos_rate"):
        assert resumed[k] == whole[k], k
    assert same_weights(tmp_path / "whole" / "sft.pt", tmp_path / "cut" / "sft.pt")


@pytest.mark.requires_solutions
def test_an_interrupted_dpo_run_resumed_ends_as_an_uninterrupted_one(rm_chain_dir, tmp_path, monkeypatch):
    files = ("sft.pt", "rm.pt", "preferences.jsonl", "preferences.meta.json")
    whole = run(train_dpo, folder(tmp_path / "whole", rm_chain_dir, files))
    cut = folder(tmp_path / "cut", rm_chain_dir, files)
    # the 4th step: after step 2's progress line (log_interval 2) and state
    interrupted(monkeypatch, train_dpo, "dpo_loss", 4, lambda: run(train_dpo, cut))
    assert (cut / "dpo_state.pt").exists()
    resumed = run(train_dpo, cut, resume=True)
    for k in ("gold_reward_dpo", "kl", "win_rate_vs_sft", "history"):
        assert resumed[k] == whole[k], k


@pytest.mark.requires_solutions
def test_an_interrupted_rm_run_resumed_ends_as_an_uninterrupted_one(chain_dir, tmp_path, monkeypatch):
    """The RM (3 steps at the test preset) cut at its last step: the resumed run samples and labels the same data
    again (from its seeds) and trains on from step 1, after step 0's held-out point."""
    whole = run(train_rm, folder(tmp_path / "whole", chain_dir, ("sft.pt",)))
    cut = folder(tmp_path / "cut", chain_dir, ("sft.pt",))
    interrupted(monkeypatch, train_rm, "bt_loss", 3, lambda: run(train_rm, cut))
    assert (cut / "rm_state.pt").exists()
    resumed = run(train_rm, cut, resume=True)
    for k in ("val_accuracy", "skill_vs_ceiling", "gold_correlation", "reward_norm"):
        assert resumed.get(k) == whole.get(k), k
    assert (cut / "preferences.jsonl").read_bytes() == (tmp_path / "whole" / "preferences.jsonl").read_bytes()
