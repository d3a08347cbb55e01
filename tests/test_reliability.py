"""Off the happy path: every flag, path, data file and checkpoint a user can get wrong gets one line and exit code 2
(or runs, where the input is legitimate); no traceback, no hang, and a good file is never replaced by a bad one.

The cases are tables. They run in-process through parse_config and main(cfg) (run_cli turns UserError and
DataError into the one line and exit code 2); subprocesses only for Ctrl-C and concurrency.
"""
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train_dpo
import train_grpo
import train_ppo
import train_rm
import train_sft
from nano_rlhf import best_of_n
from nano_rlhf.checkpoint import load_checkpoint, save_checkpoint
from nano_rlhf.common import UserError, parse_config, with_preset
from nano_rlhf.data import DataError, _read_jsonl, sft_batches
from nano_rlhf.files import MetricsLog, write_json

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"sft": train_sft, "rm": train_rm, "ppo": train_ppo, "dpo": train_dpo, "bon": best_of_n, "grpo": train_grpo}
BAD_NUMBERS = ["0", "-1", "nan", "inf", "1e12", "1000000000000"]


def refused(fn, *args, match=None, **kw):
    """fn must stop with the one-line error (UserError or DataError): return its message."""
    with pytest.raises((UserError, DataError)) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert msg and "\n" not in msg, msg
    if match:
        assert match in msg, msg
    return msg


def snapshot(folder) -> dict:
    """{file name: sha256} of a folder, to check that good files are byte-identical after a refused run."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def unchanged(before: dict, folder) -> bool:
    """Every file that was there is byte-identical (a refused run may ADD its metrics so far, and the RL stages the
    training state that --resume continues from, nothing else)."""
    after = snapshot(folder)
    added = set(after) - set(before)
    return {k: after.get(k) for k in before} == before and all(a.endswith(("_metrics.partial.jsonl", "_state.pt"))
                                                               for a in added)


@contextlib.contextmanager
def deadline(seconds=60):
    """Fail instead of hanging (the bug this guards against was an endless loop)."""
    def boom(*_):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def chain(rm_chain_dir, tmp_path):
    """A private copy of the tiny sft.pt + rm.pt + preferences chain (tests may break it)."""
    d = tmp_path / "chain"
    d.mkdir()
    for f in ("sft.pt", "rm.pt", "preferences.jsonl", "preferences.meta.json"):
        shutil.copy(rm_chain_dir / f, d / f)
    return d


def cfg_of(name, out_dir, **overrides):
    m = SCRIPTS[name]
    return with_preset(m.Config, m.PRESETS, "test", out_dir=str(out_dir), **overrides)


# ------------------------------------------------------------------------------------------------------------
# Every flag x {0, -1, nan, inf, 1e12, 10^12}: refused with one line at parse time, or legitimate and run

def numeric_fields(module):
    return [f for f in dataclasses.fields(module.Config) if f.type in (int, float, "int", "float")]


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_numeric_flag_is_refused_in_one_line_or_runs(name, chain, capsys, tmp_path):
    module, accepted = SCRIPTS[name], {}
    for f in numeric_fields(module):
        for value in BAD_NUMBERS:
            argv = ["--preset", "test", "--out-dir", str(chain), "--" + f.name.replace("_", "-"), value]
            try:
                cfg = parse_config(module.Config, module.PRESETS, argv)
            except SystemExit as e:
                err = capsys.readouterr().err.strip().splitlines()
                assert e.code == 2 and len(err) == 1 and err[0].startswith("error: "), (f.name, value, err)
                continue
            accepted.setdefault(f.name, []).append(getattr(cfg, f.name))
    assert accepted, "nothing legitimate at all?"
    # what is accepted must really be legitimate: each accepted extreme, one run per flag value would be too
    # slow, so the largest and the smallest accepted value of every flag together in two runs
    before = snapshot(chain)
    for pick in (min, max):
        out = tmp_path / pick.__name__
        shutil.copytree(chain, out)
        extremes = {k: pick(v) for k, v in accepted.items()}
        extremes = {k: v for k, v in extremes.items() if not (k == "max_steps" and v > 100)}
        cfg = dataclasses.replace(cfg_of(name, out), **extremes)
        with deadline(120):
            summary = module.main(cfg)
        assert isinstance(summary, dict), (name, extremes)
    assert unchanged(before, chain)


@pytest.mark.parametrize("name, kw", [("sft", dict(batch_size=1, eval_samples=1, max_steps=2, eval_interval=1)),
                                      ("ppo", dict(batch_size=1, minibatches=1, eval_samples=1, iterations=1)),
                                      ("dpo", dict(batch_size=1, eval_samples=1)), ("bon", dict(n=1, eval_samples=1)),
                                      ("grpo", dict(prompts_per_iteration=1, minibatches=1, group_size=2,
                                                    eval_samples=1, pass_samples=1, pass_k=1, iterations=1))])
def test_sizes_of_one_run(name, kw, chain):
    """The smallest legitimate sizes: one sequence a batch, one held-out sample (its SE is undefined: null)."""
    s = SCRIPTS[name].main(cfg_of(name, chain, **kw))
    assert isinstance(s, dict)


@pytest.mark.parametrize("name", SCRIPTS)
def test_choice_and_device_flags_are_one_line_errors(name, chain, capsys):
    module = SCRIPTS[name]
    for argv in (["--device", "tpu"], ["--device", "cuda:7"], ["--preset", "huge"], ["--no-such-flag"],
                 ["--seed", "x"], ["--out-dir", str(chain / "sft.pt")], ["--out-dir", str(chain / "sft.pt/sub")]):
        with pytest.raises(SystemExit) as e:
            parse_config(module.Config, module.PRESETS, ["--preset", "test", "--out-dir", str(chain)] + argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and "Traceback" not in err[0], (argv, err)


def test_cross_field_checks_run_before_any_work(tmp_path):
    for name, kw, what in [("sft", dict(n_embd=30, n_head=4), "multiple of --n-head"),
                           ("sft", dict(max_new_tokens=96), "no room"),
                           ("ppo", dict(batch_size=8, minibatches=3), "multiple"),
                           ("ppo", dict(beta=0.0, target_kl=2.0), "--target-kl"),
                           ("ppo", dict(minibatches=-2), "--minibatches"),
                           ("ppo", dict(target_kl=0.01, kl_horizon=1), "could change sign"),
                           ("ppo", dict(temperature=1e-40), "--temperature"),
                           ("rm", dict(norm_samples=0), "--norm-samples"),
                           ("rm", dict(epochs=0), "--epochs"),
                           ("sft", dict(batch_size=-4), "--batch-size"),
                           ("grpo", dict(prompts_per_iteration=6, minibatches=4), "not a multiple"),
                           ("grpo", dict(pass_k=20, pass_samples=16), "--pass-k 20 is more than --pass-samples 16"),
                           ("grpo", dict(group_size=1), "--group-size"),
                           ("grpo", dict(advantage="nope"), "--advantage 'nope': choose one of"),
                           ("grpo", dict(loss_agg="nope"), "--loss-agg 'nope': choose one of")]:
        refused(cfg_of, name, tmp_path / "new", match=what, **kw)
    assert not (tmp_path / "new").exists()      # a refused run leaves no trace


# ------------------------------------------------------------------------------------------------------------
# Every path argument x {missing, a directory, unreadable, empty, binary}

def make_path(kind, p: Path, good: bytes = b"") -> Path:
    """Put a bad input of this kind at p (for "missing", nothing)."""
    if kind == "directory":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "binary":
        p.write_bytes(random.Random(0).randbytes(3000))
    elif kind == "unreadable":
        p.write_bytes(good)
    return p


@pytest.fixture
def unreadable(monkeypatch):
    """Make one path unreadable even for root: open() and os.access() say no."""
    def deny(path):
        real_open, real_access = open, os.access

        def fake_open(file, *a, **k):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **k)
        monkeypatch.setattr("builtins.open", fake_open)
        monkeypatch.setattr(os, "access", lambda f, mode, **k: False if str(f) == str(path) else real_access(f, mode))
    return deny


KINDS = ["missing", "directory", "unreadable", "empty", "binary"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stage, flag", [("sft", "data"), ("sft", "init"), ("rm", "data"), ("dpo", "data")])
def test_bad_input_paths_are_one_line_errors(stage, flag, kind, chain, unreadable):
    good = (chain / "preferences.jsonl").read_bytes()
    p = make_path(kind, chain.parent / f"input_{kind}", good)
    if kind == "unreadable":
        unreadable(p)
    before = snapshot(chain)
    refused(lambda: SCRIPTS[stage].main(cfg_of(stage, chain, **{flag: str(p)})))
    assert unchanged(before, chain)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stage, file", [("rm", "sft.pt"), ("ppo", "sft.pt"), ("ppo", "rm.pt"), ("dpo", "sft.pt"),
                                         ("dpo", "preferences.jsonl"), ("bon", "rm.pt"), ("grpo", "sft.pt"),
                                         ("grpo", "rm.pt")])
def test_bad_input_files_in_the_out_dir_are_one_line_errors(stage, file, kind, chain, unreadable):
    target = chain / file
    good = target.read_bytes()
    target.unlink()
    make_path(kind, target, good)
    if kind == "unreadable":
        unreadable(target)
    before = snapshot(chain)
    msg = refused(lambda: SCRIPTS[stage].main(cfg_of(stage, chain)))
    assert "`python " in msg or "cannot read it" in msg, msg      # it says what to run (or to fix)
    assert unchanged(before, chain)


@pytest.mark.parametrize("stage, output", [("sft", "sft_loss.png"), ("sft", "sft_metrics.partial.jsonl"),
                                           ("rm", "preferences.meta.json"), ("ppo", "ppo.pt"),
                                           ("dpo", "dpo_summary.json"), ("bon", "bon_summary.json"),
                                           ("grpo", "grpo_reward_vs_kl.png")])
def test_an_output_path_in_the_way_is_refused_before_any_work(stage, output, chain):
    (chain / output).unlink(missing_ok=True)
    (chain / output).mkdir()                    # a folder where the run would write a file, at the very end
    before = snapshot(chain)
    t0 = time.perf_counter()
    refused(lambda: SCRIPTS[stage].main(cfg_of(stage, chain)), match="in the way")
    assert time.perf_counter() - t0 < 5 and unchanged(before, chain)      # before training, not after


def test_odd_out_dirs_and_sidecars(chain, tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    refused(cfg_of, "sft", tmp_path / "dangling", match="symbolic link to nothing")
    (chain / "preferences.meta.json").unlink()
    os.mkfifo(chain / "preferences.meta.json")   # reading a pipe would wait forever
    with deadline(30):
        refused(lambda: train_dpo.main(cfg_of("dpo", chain)), match="not a regular file")
    os.mkfifo(tmp_path / "data.jsonl")
    refused(cfg_of, "rm", chain, data=str(tmp_path / "data.jsonl"), match="not a regular file")


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_checkpoint(chain, monkeypatch):
    def full(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 12288 vs 12182")
    monkeypatch.setattr(torch, "save", full)
    before = snapshot(chain)
    refused(lambda: train_ppo.main(cfg_of("ppo", chain)), match="is the disk full")
    assert unchanged(before, chain) and not list(chain.glob("*.tmp"))


# ------------------------------------------------------------------------------------------------------------
# Readers of user data: legitimate variations read, everything else "file:line: what is wrong"

GOOD = {"prompt": "User: What does the cow say?\nAssistant:", "response": " The cow says moo."}


@pytest.mark.parametrize("case, raw, rows", [
    ("bom", b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n", 1),
    ("crlf", (json.dumps(GOOD) + "\r\n") .encode() * 3, 3),
    ("blank lines", b"\n   \n" + json.dumps(GOOD).encode() + b"\n\n\r\n", 1),
    ("extra keys", json.dumps({**GOOD, "id": 7}).encode(), 1),
    ("no final newline", json.dumps(GOOD).encode(), 1),
])
def test_readers_accept_legitimate_files(case, raw, rows, tmp_path):
    p = tmp_path / "data.jsonl"
    p.write_bytes(raw)
    assert _read_jsonl(p, ("prompt", "response")) == [(GOOD["prompt"], GOOD["response"])] * rows


@pytest.mark.parametrize("case, line, what", [
    ("invalid utf-8", b'{"prompt": "\xff\xfe", "response": "x"}', "not UTF-8"),
    ("lone surrogate", b'{"prompt": "\\ud800", "response": "x"}', "surrogate"),
    ("5000-digit number", b'{"prompt": "a", "response": "b", "n": ' + b"9" * 5000 + b"}", "invalid JSON"),
    ("deep nesting", b"[" * 100000 + b"]" * 100000, "invalid JSON"),
    ("wrong type", b'{"prompt": "a", "response": 3}', "must be a string"),
    ("missing key", b'{"prompt": "a"}', "missing key 'response'"),
    ("not an object", b'["a", "b"]', "expected a JSON object"),
    ("NaN", b'{"prompt": "a", "response": NaN}', "must be a string"),
    ("empty prompt", b'{"prompt": " ", "response": "b"}', "empty 'prompt'"),
    ("truncated", b'{"prompt": "a", "resp', "invalid JSON"),
    ("nul bytes", b"\x00\x00\x00", "invalid JSON"),
])
def test_readers_refuse_bad_lines_with_file_and_line(case, line, what, tmp_path):
    p = tmp_path / "data.jsonl"
    p.write_bytes(json.dumps(GOOD).encode() + b"\n" + line + b"\n")
    msg = refused(_read_jsonl, p, ("prompt", "response"))
    assert f"{p}:2:" in msg and what in msg, msg


def test_over_long_examples_are_dropped_and_counted_in_every_stage(chain, tmp_path):
    long = " ".join(["moo"] * 150)
    sft_rows = [{"prompt": "User: Talk.\nAssistant:", "response": long}] + [
        {"prompt": f"User: What does animal {i} say?\nAssistant:", "response": " It says moo."} for i in range(20)]
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sft_rows))
    with deadline():      # 20 examples, fewer than a batch of 32: this used to hang forever
        s = train_sft.main(cfg_of("sft", tmp_path / "o", data=str(tmp_path / "sft.jsonl"), max_steps=3))
    assert s["too_long_dropped"] == 1 and s["n_train"] + s["n_val"] == 20
    pref = json.loads((chain / "preferences.jsonl").read_text().splitlines()[0])
    rows = [pref] * 6 + [{**pref, "chosen": long}]
    (tmp_path / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = train_rm.main(cfg_of("rm", chain, data=str(tmp_path / "prefs.jsonl")))
    assert s["too_long_dropped"] == 1 and s["n_pairs"] == 6
    s = train_dpo.main(cfg_of("dpo", chain, data=str(tmp_path / "prefs.jsonl")))
    assert s["pairs_dropped"] == 1 and s["n_pairs"] == 6
    (tmp_path / "all_long.jsonl").write_text(json.dumps({**pref, "chosen": long}) + "\n")
    refused(lambda: train_rm.main(cfg_of("rm", chain, data=str(tmp_path / "all_long.jsonl"))), match="longer")


def test_every_sft_example_is_seen_each_pass_the_longest_too():
    examples = [([i] + [0] * (i % 7), [1] * (1 + i % 7)) for i in range(39)]     # first token = example number
    batches = sft_batches(examples, 32, pad_id=99, rng=random.Random(0), device="cpu")
    seen = [int(t) for _ in range(2) for t in next(batches)[0][:, 0]]
    assert sorted(seen) == list(range(39))


def test_dpo_batches_wider_than_the_block_are_split_not_crashed():
    """The issue's case: each pair fits block 16, but padded together (prompt 12 + response 14) they do not."""
    from contextlib import nullcontext
    from nano_rlhf.model import GPT, GPTConfig
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=16)).eval()
    data = [([1] * 12, [2, 3, 18], [4, 18]), ([5], [6] * 14 + [18], [7, 18])]
    assert all(len(p) + max(len(c), len(r)) <= 17 for p, c, r in data)      # each fits (encode_pairs' rule)
    with torch.no_grad():
        c, r = train_dpo.sequence_logprobs(model, data, 19, "cpu", nullcontext)
        for b, (p, ch, rj) in enumerate(data):
            one_c, one_r = train_dpo.sequence_logprobs(model, [(p, ch, rj)], 19, "cpu", nullcontext)
            assert torch.allclose(c[b], one_c[0], atol=1e-5) and torch.allclose(r[b], one_r[0], atol=1e-5)


def test_dpo_epoch_batches_keep_the_longest_pairs():
    data = [([1], [2] * (i % 50 + 1), [3]) for i in range(1000)]
    seen = sorted(i for b in train_dpo.epoch_batches(data, 32, random.Random(0)) for i in b)
    assert seen == list(range(1000))


# ------------------------------------------------------------------------------------------------------------
# Checkpoints that load but would not build, and chains that do not belong together

def damaged(ck: dict, defect: str) -> dict:
    ck = {**ck, "model": dict(ck["model"]), "model_config": dict(ck["model_config"])}
    name = next(k for k in ck["model"] if k.endswith("wte.weight"))
    if defect == "missing key":
        del ck["model_config"]
    elif defect == "missing weight":
        del ck["model"][name]
    elif defect == "wrong shape":
        ck["model"][name] = ck["model"][name][:, :-1].clone()
    elif defect == "shape vs model_config":
        ck["model_config"]["n_embd"] *= 2
    elif defect == "nan weights":
        ck["model"][name] = ck["model"][name].clone().fill_(float("nan"))
    elif defect == "unknown model_config field":
        ck["model_config"]["flash"] = True
    elif defect == "tokenizer":
        ck["tokenizer"] = {"name": "bpe"}
    elif defect == "config not a dict":
        ck["config"] = "oops"
    elif defect == "nan normalisation":
        ck["reward_norm"] = {"gain": float("nan"), "bias": 0.0}
    elif defect == "dropout a string":
        ck["model_config"]["dropout"] = "0.1"
    elif defect == "config values":           # what later stages read: sft's max_new_tokens, rm's n_val_pairs
        ck["config"] = {**ck["config"], "max_new_tokens": 0, "world_seed": -1, "n_val_pairs": None}
    return ck


DEFECTS = ["missing key", "missing weight", "wrong shape", "shape vs model_config", "nan weights",
           "unknown model_config field", "tokenizer", "config not a dict", "nan normalisation", "dropout a string",
           "config values"]


@pytest.mark.parametrize("stage, file, defect", [(s, f, d) for s, f in [("rm", "sft.pt"), ("ppo", "rm.pt"),
                                                                       ("bon", "rm.pt"), ("dpo", "sft.pt")]
                                                  for d in DEFECTS if f == "rm.pt" or d != "nan normalisation"])
def test_damaged_checkpoints_are_one_line_errors(stage, file, defect, chain):
    ck = torch.load(chain / file, weights_only=True)
    torch.save(damaged(ck, defect), chain / file)
    before = snapshot(chain)
    refused(lambda: SCRIPTS[stage].main(cfg_of(stage, chain)), match="re-create it with")
    assert unchanged(before, chain)


def test_a_chain_from_another_sft_model_is_refused(chain):
    sft = load_checkpoint(str(chain / "sft.pt"), "sft")
    from nano_rlhf.checkpoint import build_policy, load_tokenizer
    model = build_policy(sft, "cpu")
    with torch.no_grad():
        model.wte.weight[0, 0] += 1e-3          # another SFT model (seed, data...) with the same tokenizer
    save_checkpoint(str(chain / "sft.pt"), stage="sft", model=model, tokenizer=load_tokenizer(sft),
                    config=sft["config"], metrics={})
    for stage in ("ppo", "bon", "grpo"):
        refused(lambda: SCRIPTS[stage].main(cfg_of(stage, chain)), match="re-run `python train_rm.py`")
    # DPO: pi_ref must be the model that sampled the pairs (the sidecar says which)
    refused(lambda: train_dpo.main(cfg_of("dpo", chain)), match="sampled by another SFT model")


def test_preferences_without_a_sidecar_warn_and_train(chain, capsys):
    (chain / "preferences.meta.json").unlink()
    s = train_dpo.main(cfg_of("dpo", chain))
    assert s["n_pairs"] > 0 and "cannot check" in capsys.readouterr().err


def test_init_uses_the_parents_model_and_refuses_other_model_flags(chain, tmp_path):
    parent = str(chain / "sft.pt")
    refused(lambda: train_sft.main(cfg_of("sft", tmp_path / "o", init=parent, n_layer=3)), match="drop --n-layer 3")
    s = train_sft.main(cfg_of("sft", tmp_path / "o", init=parent, max_steps=2))
    child = load_checkpoint(str(tmp_path / "o" / "sft.pt"), "sft")
    assert child["parents"] == {"init": load_checkpoint(parent, "sft")["id"]} and s["n_train"] > 0
    assert child["model_config"] == load_checkpoint(parent, "sft")["model_config"]


def test_the_id_hashes_every_byte(chain):
    from nano_rlhf.checkpoint import fingerprint
    sd = torch.load(chain / "sft.pt", weights_only=True)["model"]
    name = max(sd, key=lambda k: sd[k].numel())
    changed = {**sd, name: sd[name].clone()}
    changed[name].view(-1)[-1] += 1.0           # the last element: far beyond the first 4 KiB
    assert fingerprint(changed) != fingerprint(sd)


# ------------------------------------------------------------------------------------------------------------
# Nothing non-finite is ever saved; an untrainable run refuses before it saves

@pytest.mark.parametrize("stage, kw, nan_at", [("sft", dict(max_steps=2), 2),                     # the last step
                                                ("ppo", dict(iterations=1), 4),                     # the policy's last
                                                ("rm", {}, 2), ("dpo", {}, 2),                      # then the loss
                                                ("grpo", dict(iterations=1), 4)])                   # 2 epochs x 2 minibatches
def test_weights_gone_nan_are_never_saved(stage, kw, nan_at, chain, monkeypatch):
    """The loss stays finite up to the step that breaks the weights: the check must look at what is saved."""
    real_step, calls = torch.optim.AdamW.step, {}

    def step(self, *a, **k):
        out = real_step(self, *a, **k)
        calls[id(self)] = calls.get(id(self), 0) + 1
        if list(calls)[0] == id(self) and calls[id(self)] >= nan_at:     # the first optimiser: the trained model
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out
    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    before = snapshot(chain)
    refused(lambda: SCRIPTS[stage].main(cfg_of(stage, chain, **kw)), match="non-finite")
    assert unchanged(before, chain)


def test_a_normalisation_that_cannot_be_fitted_is_refused(chain, monkeypatch):
    monkeypatch.setattr(train_rm, "score_samples", lambda *a, **k: [0.5] * 64)   # no spread
    before = snapshot(chain)
    refused(lambda: train_rm.main(cfg_of("rm", chain)), match="cannot normalise")
    assert unchanged(before, chain)


def test_summaries_never_hold_nan(tmp_path):
    write_json(str(tmp_path / "s.json"), {"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}})
    assert json.loads((tmp_path / "s.json").read_text(), parse_constant=lambda c: 1 / 0) == \
        {"a": None, "b": [1.0, None], "c": {"d": None}}


def test_the_gpt2_tokenizer_offline_is_one_line(tmp_path, monkeypatch):
    import tiktoken

    def offline(name):
        raise ConnectionError("no network")
    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    refused(lambda: train_sft.main(cfg_of("sft", tmp_path / "o", tokenizer="gpt2")), match="--tokenizer bpe")


# ------------------------------------------------------------------------------------------------------------
# Metrics as they happen, Ctrl-C, and two runs at once

def test_metrics_are_written_as_they_happen_and_moved_when_the_run_saves(chain):
    s = train_ppo.main(cfg_of("ppo", chain))
    rows = [json.loads(line) for line in (chain / "ppo_metrics.jsonl").read_text().splitlines()]
    assert not (chain / "ppo_metrics.partial.jsonl").exists()
    assert [r["iteration"] for r in rows if r["kind"] == "iteration"] == list(range(s["iterations"]))
    assert [r["gold"] for r in rows if r["kind"] == "eval"] == [h["gold"] for h in s["history"]]


def test_ctrl_c_is_one_line_and_keeps_the_previous_checkpoint(chain):
    before = snapshot(chain)
    p = subprocess.Popen([sys.executable, "train_rm.py", "--preset", "test", "--out-dir", str(chain),
                          "--eval-interval", "1", "--epochs", "30"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    for line in p.stdout:                          # wait until training has started, then press Ctrl-C
        if line.startswith("epoch 1"):
            break
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert snapshot(chain)["rm.pt"] == before["rm.pt"] and snapshot(chain)["sft.pt"] == before["sft.pt"]
    rows = (chain / "rm_metrics.partial.jsonl").read_text().splitlines()
    assert len(rows) >= 2 and all(json.loads(r)["kind"] in ("train", "val") for r in rows)


def test_ctrl_c_while_torch_is_still_importing_is_one_line(tmp_path):
    p = subprocess.Popen([sys.executable, "train_sft.py", "--out-dir", str(tmp_path)], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)                                # torch takes a second or more to import
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 130 and len(err.splitlines()) == 1 and err.startswith("interrupted"), err


def test_nothing_is_ever_renamed_over_a_folder_a_device_or_a_pipe(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for target in (tmp_path / "pipe", tmp_path, Path(os.devnull)):
        refused(write_json, str(target), {}, match="not a regular file")
    assert Path(os.devnull).is_char_device()


def test_experiment_caches_are_reused_only_when_whole():
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    from frontier import usable_summary
    good = {"kl": 1.0, "gold_reward_ppo": 0.5, "gold_reward_ppo_se": 0.1, "rm_reward_ppo": 0.7,
            "history": [{"iteration": 0, "kl": 0.0, "gold": 0.1, "rm": 0.0}]}
    assert usable_summary("ppo", good)
    for bad in ({}, [], {**good, "kl": "big"}, {**good, "history": []}, {k: v for k, v in good.items() if k != "kl"},
                {**good, "history": [{"iteration": 0}]}, {**good, "gold_reward_ppo_se": None}):
        assert not usable_summary("ppo", bad), bad


def _writer(path, n):
    for i in range(n):
        write_json(path, {"writer": os.getpid(), "i": i, "payload": "x" * 200_000})


def test_concurrent_writers_never_tear_a_file(tmp_path):
    import multiprocessing as mp
    path = str(tmp_path / "s.json")
    write_json(path, {"payload": ""})
    procs = [mp.get_context("fork").Process(target=_writer, args=(path, 25)) for _ in range(2)]
    for p in procs:
        p.start()
    reads = 0
    while any(p.is_alive() for p in procs):
        json.loads(Path(path).read_text())        # always a whole file: each writer renames its own temp file
        reads += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert reads > 0 and not list(tmp_path.glob("*.tmp"))


def test_a_second_run_of_a_stage_into_the_same_folder_stops_in_one_line(tmp_path):
    code = (f"from nano_rlhf.files import MetricsLog; import time; m = MetricsLog({str(tmp_path)!r}, 'ppo'); "
            "print('ready', flush=True); time.sleep(30)")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        refused(MetricsLog, str(tmp_path), "ppo", match="another ppo run")
        MetricsLog(str(tmp_path), "dpo").close()        # another stage is fine
    finally:
        p.kill()
        p.wait()
    MetricsLog(str(tmp_path), "ppo").close()            # the lock went with the process


@pytest.mark.parametrize("stage", sorted(SCRIPTS))
def test_help_prints_for_every_script(stage, capsys):
    """--help of every script: exit code 0 and each flag listed (argparse formats help strings with %, so a bare
    "15%" in a field's help once crashed train_grpo.py --help with a traceback)."""
    module = SCRIPTS[stage]
    with pytest.raises(SystemExit) as e:
        parse_config(module.Config, module.PRESETS, ["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--seed" in out and "Traceback" not in out
