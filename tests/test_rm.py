"""Stage 2: the Bradley-Terry loss, the score at the EOS, learning on a toy batch, errors, the test preset."""
import json
import math

import pytest
import torch

import train_rm
from nano_rlhf.checkpoint import load_checkpoint
from nano_rlhf.common import UserError, with_preset
from nano_rlhf.data import left_pad, right_pad
from nano_rlhf.model import GPTConfig, ValueModel, last_token_values


@pytest.mark.exercise("bt_loss")
def test_bt_loss_equals_a_hand_computation():
    rc, rr = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.0, 1.0])
    expect = (math.log(1 + math.exp(-1.0)) + math.log(2.0) + math.log(1 + math.exp(2.0))) / 3
    assert abs(float(train_rm.bt_loss(rc, rr)) - expect) < 1e-6


@pytest.mark.exercise("bt_loss")
def test_a_few_steps_on_a_toy_batch_raise_the_margin():
    torch.manual_seed(0)
    vm = ValueModel(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=16))
    chosen, rejected = torch.randint(0, 18, (8, 6)), torch.randint(0, 18, (8, 6))
    opt = torch.optim.Adam(vm.parameters(), lr=1e-2)
    margins = []
    for _ in range(20):
        rc, rr = vm(chosen)[:, -1], vm(rejected)[:, -1]
        margins.append(float((rc - rr).mean().detach()))
        loss = train_rm.bt_loss(rc, rr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert margins[-1] > margins[0] + 1.0


@torch.no_grad()
def test_score_is_taken_at_the_eos_whatever_the_padding():
    torch.manual_seed(0)
    vm = ValueModel(GPTConfig(block_size=32, vocab_size=20, n_layer=2, n_head=2, n_embd=16)).eval()
    EOS, PAD = 18, 19
    seqs = [[1, 2, 3, 4, 5, EOS], [6, 7, EOS], [8, 9, 10, 11, EOS]]
    alone = [float(vm(torch.tensor([s]))[0, -1]) for s in seqs]      # the value at the EOS, no padding at all
    r_idx, r_mask = right_pad(seqs, PAD)
    right = last_token_values(vm(r_idx), r_mask)
    l_idx, l_mask = left_pad(seqs, PAD)
    left = last_token_values(vm(l_idx, l_mask), l_mask)
    extra = right_pad([s + [PAD, PAD, PAD] for s in seqs], PAD)[0]   # more right pads change nothing either
    more = last_token_values(vm(extra), torch.cat([r_mask, torch.zeros(3, 3, dtype=torch.long)], 1))
    for got in (right, left, more):
        assert torch.allclose(got, torch.tensor(alone), atol=1e-5)


def test_missing_or_wrong_stage_checkpoint_is_a_one_line_error(tmp_path, chain_dir):
    cfg = with_preset(train_rm.Config, train_rm.PRESETS, "test", out_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` first"):
        train_rm.main(cfg)
    (tmp_path / "sft.pt").write_bytes((chain_dir / "sft.pt").read_bytes())
    ck = torch.load(tmp_path / "sft.pt", weights_only=True)
    ck["stage"] = "ppo"
    torch.save(ck, tmp_path / "sft.pt")
    with pytest.raises(UserError, match="is a 'ppo' checkpoint, expected 'sft'"):
        train_rm.main(cfg)


@pytest.mark.requires_solutions
def test_test_preset_runs_end_to_end(rm_chain_dir):
    ckpt = load_checkpoint(str(rm_chain_dir / "rm.pt"), "rm")
    sft = load_checkpoint(str(rm_chain_dir / "sft.pt"), "sft")
    assert ckpt["parents"] == {"sft": sft["id"]} and set(ckpt["reward_norm"]) == {"gain", "bias"}
    s = json.loads((rm_chain_dir / "rm_summary.json").read_text())
    for key in ("val_accuracy", "labeler_accuracy", "gold_order_accuracy", "gold_correlation", "n_pairs",
                "wall_seconds"):
        assert key in s
    assert {"pearson", "spearman"} <= set(s["gold_correlation"])
    lines = (rm_chain_dir / "preferences.jsonl").read_text().splitlines()
    assert len(lines) == s["n_pairs"] and set(json.loads(lines[0])) == {"prompt", "chosen", "rejected"}
