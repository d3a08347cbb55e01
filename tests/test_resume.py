"""--resume (nano_rlhf/resume.py): an interrupted train_ppo.py or train_grpo.py run, resumed, ends with the numbers
of an uninterrupted one; a state from other flags, or none, is a one-line error."""
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


def fresh(rm_chain_dir, path):
    path.mkdir()
    for f in ("sft.pt", "rm.pt"):
        shutil.copyfile(rm_chain_dir / f, path / f)
    return path


@pytest.mark.requires_solutions
@pytest.mark.parametrize("stage", sorted(SCRIPTS))
def test_an_interrupted_run_resumed_ends_as_an_uninterrupted_one(stage, rm_chain_dir, tmp_path, monkeypatch):
    module = SCRIPTS[stage]
    whole = run(module, fresh(rm_chain_dir, tmp_path / "whole"), iterations=4)
    assert not (tmp_path / "whole" / f"{stage}_state.pt").exists()          # a finished run leaves no state

    cut = fresh(rm_chain_dir, tmp_path / "cut")
    real, calls = module.update, []

    def crash_at_iteration_3(*a, **kw):            # the 4th update: after iteration 2's evaluation and state
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(module, "update", crash_at_iteration_3)
    with pytest.raises(KeyboardInterrupt):
        run(module, cut, iterations=4)
    monkeypatch.setattr(module, "update", real)
    assert (cut / f"{stage}_state.pt").exists() and not (cut / f"{stage}.pt").exists()
    resumed = run(module, cut, iterations=4, resume=True)

    for k in ("kl", f"gold_reward_{stage}", "win_rate_vs_sft", "gold_by_prompt", "history"):
        assert resumed[k] == whole[k], k
    iters = lambda d: [(r["iteration"], r["kl"], r["rm"]) for r in map(json.loads, open(d / f"{stage}_metrics.jsonl"))
                       if r["kind"] == "iteration"]  # noqa: E731
    assert iters(cut) == iters(tmp_path / "whole")                             # the same curve, every row once
    a = torch.load(tmp_path / "whole" / f"{stage}.pt", weights_only=True)["model"]
    b = torch.load(cut / f"{stage}.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.requires_solutions
def test_resume_without_a_state_or_with_other_flags_is_one_line(rm_chain_dir, tmp_path, monkeypatch):
    out = fresh(rm_chain_dir, tmp_path / "run")
    with pytest.raises(UserError, match="no interrupted ppo run to continue"):
        run(train_ppo, out, resume=True)
    real = train_ppo.update
    monkeypatch.setattr(train_ppo, "update", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run(train_ppo, out)
    monkeypatch.setattr(train_ppo, "update", real)
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
    real, calls = train_sft.sft_loss, []

    def crash_at_step_40(*a, **kw):
        calls.append(1)
        if len(calls) == 41:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(train_sft, "sft_loss", crash_at_step_40)
    with pytest.raises(KeyboardInterrupt):
        run(train_sft, tmp_path / "cut", dropout=0.1)
    monkeypatch.setattr(train_sft, "sft_loss", real)
    resumed = run(train_sft, tmp_path / "cut", dropout=0.1, resume=True)
    for k in ("gold_reward", "val_loss", "eos_rate"):
        assert resumed[k] == whole[k], k
    a = torch.load(tmp_path / "whole" / "sft.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "sft.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.requires_solutions
def test_an_interrupted_dpo_run_resumed_ends_as_an_uninterrupted_one(rm_chain_dir, tmp_path, monkeypatch):
    def folder(name):
        d = fresh(rm_chain_dir, tmp_path / name)
        for f in ("preferences.jsonl", "preferences.meta.json"):
            shutil.copyfile(rm_chain_dir / f, d / f)
        return d
    whole = run(train_dpo, folder("whole"))
    cut = folder("cut")
    real, calls = train_dpo.dpo_loss, []

    def crash_at_step_3(*a, **kw):                  # after step 2's progress line (log_interval 2) and state
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(train_dpo, "dpo_loss", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        run(train_dpo, cut)
    monkeypatch.setattr(train_dpo, "dpo_loss", real)
    assert (cut / "dpo_state.pt").exists()
    resumed = run(train_dpo, cut, resume=True)
    for k in ("gold_reward_dpo", "kl", "win_rate_vs_sft", "history"):
        assert resumed[k] == whole[k], k


@pytest.mark.requires_solutions
def test_an_interrupted_rm_run_resumed_ends_as_an_uninterrupted_one(chain_dir, tmp_path, monkeypatch):
    """The RM (3 steps at the test preset) cut at its last step: the resumed run samples and labels the same data
    again (from its seeds) and trains on from step 1, after step 0's held-out point."""
    def folder(name):
        (tmp_path / name).mkdir()
        shutil.copyfile(chain_dir / "sft.pt", tmp_path / name / "sft.pt")
        return tmp_path / name
    whole = run(train_rm, folder("whole"))
    cut = folder("cut")
    real, calls = train_rm.bt_loss, []

    def crash_at_step_2(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(train_rm, "bt_loss", crash_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        run(train_rm, cut)
    monkeypatch.setattr(train_rm, "bt_loss", real)
    assert (cut / "rm_state.pt").exists()
    resumed = run(train_rm, cut, resume=True)
    for k in ("val_accuracy", "skill_vs_ceiling", "gold_correlation", "reward_norm"):
        assert resumed.get(k) == whole.get(k), k
    assert (cut / "preferences.jsonl").read_bytes() == (tmp_path / "whole" / "preferences.jsonl").read_bytes()
