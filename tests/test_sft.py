"""Stage 1: the masked SFT loss, the end-to-end test preset, and one-line errors."""
import json
import math
import subprocess
import sys

import pytest
import torch

import train_sft
from nano_rlhf.checkpoint import load_checkpoint
from nano_rlhf.data import collate_sft, encode_sft
from nano_rlhf.tokenizer import train_bpe


@pytest.mark.exercise("sft_loss")
def test_sft_loss_ignores_prompt_and_pad_tokens_like_a_loop():
    torch.manual_seed(0)
    B, T, V = 3, 7, 11
    logits, targets = torch.randn(B, T, V), torch.randint(0, V, (B, T))
    mask = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 0, 0]])
    total, n = 0.0, 0
    for b in range(B):
        for t in range(T):
            if mask[b, t]:
                z = logits[b, t]
                total += -(float(z[targets[b, t]]) - math.log(sum(math.exp(float(v)) for v in z)))
                n += 1
    assert abs(float(train_sft.sft_loss(logits, targets, mask)) - total / n) < 1e-5
    # changing logits at masked-out positions changes nothing
    noisy = logits + 100 * (1 - mask)[..., None] * torch.randn(B, T, V)
    assert torch.allclose(train_sft.sft_loss(noisy, targets, mask), train_sft.sft_loss(logits, targets, mask))


def test_encode_sft_masks_the_prompt_and_keeps_the_eos():
    tok = train_bpe(["User: hi\nAssistant: hello there"] * 5, 300)
    ids, mask = encode_sft(tok, "User: hi\nAssistant:", " hello", 64)
    n_prompt = len(tok.encode("User: hi\nAssistant:"))
    assert mask == [0] * n_prompt + [1] * (len(ids) - n_prompt)
    assert ids[-1] == tok.eos_id
    x, y, m = collate_sft([(ids, mask), (ids[:3], mask[:3])], tok.pad_id, "cpu")
    assert x.shape == y.shape == m.shape == (2, len(ids) - 1)
    assert m[1].sum() == 0 and (y[0][m[0] == 1][-1] == tok.eos_id)   # targets shifted by one; pads masked


def test_test_preset_runs_end_to_end_and_writes_a_loadable_checkpoint(chain_dir):
    ckpt = load_checkpoint(str(chain_dir / "sft.pt"), "sft")
    assert torch.load(chain_dir / "sft.pt", weights_only=True)["stage"] == "sft"
    summary = json.loads((chain_dir / "sft_summary.json").read_text())
    for key in ("val_loss", "gold_reward", "gold_reward_se", "gold_components", "corpus_gold_reward",
                "gold_reward_best", "eos_rate", "wall_seconds", "params"):
        assert key in summary
    assert ckpt["metrics"]["params"] == summary["params"]
    assert (chain_dir / "sft_loss.png").stat().st_size > 1000


def _cli(*args):
    return subprocess.run([sys.executable, "train_sft.py", *args], capture_output=True, text=True, timeout=120)


def test_malformed_jsonl_line_is_one_line_error_with_its_line_number(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "User: hi\\nAssistant:", "response": " hello"}\n{"prompt": "x"\n')
    r = _cli("--data", str(bad), "--preset", "test", "--out-dir", str(tmp_path / "o"))
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and f"{bad}:2" in err[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "sft.pt").exists()


@pytest.mark.parametrize("flag", [("--max-steps", "0"), ("--fact-checks", "-1")])
def test_impossible_step_or_fact_check_count_is_one_line_error(tmp_path, flag):
    r = _cli(*flag, "--preset", "test", "--out-dir", str(tmp_path / "o"))
    assert r.returncode == 2 and flag[0] in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_wrong_stage_init_is_one_line_error(tmp_path, chain_dir):
    r = _cli("--init", str(tmp_path / "missing.pt"), "--preset", "test", "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "no such file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
