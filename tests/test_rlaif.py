"""AI feedback (nano_rlhf/constitution.py, nano_rlhf/judge.py, train_rm.py --labeler/--label-fraction) and the gold
seal (World.seal): the judge learns only from what the corpus generator wrote, never from gold."""
import ast
import hashlib
import math
import random
import textwrap
from pathlib import Path

import pytest
import torch

from nano_rlhf import constitution, judge
from nano_rlhf.world import CLOSERS, FILLERS, INSULTS, GoldLeak, World

ROOT = Path(__file__).resolve().parent.parent
GOLD_NAMES = {"gold_reward", "gold_reward_best", "label", "label_agreement", "preference_probability", "fact_of",
              "best_response", "WEIGHTS", "LENGTH_LIMIT", "CONCISE_FLOOR", "count_insults", "insults",
              "LABELER_TEMPERATURE"}


def gold_names_used(source: str) -> set:
    """Every gold-only name a piece of code imports or reads (an attribute, a name, an imported module)."""
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            used |= {a.name for a in node.names} | set((node.module or "").split("."))
        elif isinstance(node, ast.Import):
            used |= {part for a in node.names for part in a.name.split(".")}
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Name):
            used.add(node.id)
    return used & GOLD_NAMES


def test_the_gold_check_finds_gold():
    """The checker itself: it sees an import, an attribute call and a module."""
    assert gold_names_used("from nano_rlhf.world import WEIGHTS") == {"WEIGHTS"}
    assert gold_names_used("x = world.gold_reward(p, r)") == {"gold_reward"}
    assert gold_names_used("from nano_rlhf.insults import count_insults") == {"insults", "count_insults"}
    assert gold_names_used("x = world.corpus()") == set()


def test_the_judge_never_learns_from_gold():
    """The check generator, the judge and the generator method they call read no gold: not gold_reward, the labeler,
    insults.py, WEIGHTS or LENGTH_LIMIT."""
    import inspect
    for module in (constitution, judge):
        assert gold_names_used(Path(module.__file__).read_text()) == set(), module.__name__
    assert gold_names_used(textwrap.dedent(inspect.getsource(World.sample_response_and_choices))) == set()


def test_the_corpus_is_unchanged_by_the_choices():
    """sample_response_and_choices draws exactly what sample_response drew before it: the corpus of World(0) is
    the one every committed result was trained on (its hash, taken before the refactor)."""
    w = World(0)
    assert hashlib.md5(repr(w.corpus()).encode()).hexdigest() == "d9f7395a0e9212de7c75fd587f8d0ec4"
    a, b = random.Random(5), random.Random(5)
    for p in w.train_prompts[:50]:
        assert w.sample_response(p, a) == w.sample_response_and_choices(p, b)[0]


def test_principle_checks_answer_what_the_writer_wrote():
    """Half yes, half no per principle; and an independent reading of the text agrees with the answer where the
    text says it plainly: an insult of INSULTS (kind), a closer of CLOSERS (polite), a filler (not concise)."""
    w = World(0)
    checks = constitution.principle_checks(w, 1000)
    assert len(checks) == 1000 and checks == constitution.principle_checks(w, 1000)
    by = {}
    for prompt, answer in checks:
        question = prompt.removeprefix("User: ").split(" Question:")[0]
        principle = next(n for n, q in constitution.QUESTIONS.items() if q == question)
        by.setdefault(principle, []).append((prompt.split(" Reply:", 1)[1], answer))
    assert set(by) == {"honest", "answers", "polite", "kind", "concise"}
    for principle, rows in by.items():
        assert len(rows) == 200 and abs(sum(a == " Yes." for _, a in rows) - 100) <= 30, principle
    assert all((a == " No.") == any(i in r for i in INSULTS) for r, a in by["kind"])
    assert all((a == " Yes.") == any(c in r for c in CLOSERS) for r, a in by["polite"])
    assert all(a == " No." for r, a in by["concise"] if any(f in r for f in FILLERS))


def test_writer_says_yes_by_hand():
    choices = {"core": "wrong", "stutter": False, "again": False, "fillers": 0, "insults": 1, "closers": 2}
    says = {p: constitution.writer_says_yes(p, choices) for p in constitution.PRINCIPLES if p != "right"}
    assert says == {"honest": False, "answers": True, "polite": True, "kind": False, "concise": True}
    assert constitution.writer_says_yes("honest", {**choices, "core": "none"})
    assert not constitution.writer_says_yes("concise", {**choices, "stutter": True})


@pytest.mark.exercise("ai_preference")
def test_ai_preference_on_fixed_logits():
    """By hand: z(a) - z(b) = (2, -1, 0, ...) with weights (0.5, 1, 0, ...) -> sigmoid(0) = 0.5; with (1, 0, ...)
    -> sigmoid(2); and swapping a and b gives 1 - P."""
    C = len(constitution.PRINCIPLES)
    z_a, z_b = torch.zeros(2, C), torch.zeros(2, C)
    z_a[:, 0], z_a[:, 1], z_b[:, 1] = 3.0, 0.5, 1.5
    z_b[:, 0] = 1.0
    w1, w2 = torch.zeros(C), torch.zeros(C)
    w1[0], w1[1], w2[0] = 0.5, 1.0, 1.0
    assert judge.ai_preference(z_a, z_b, w1).tolist() == pytest.approx([0.5, 0.5])
    assert judge.ai_preference(z_a, z_b, w2).tolist() == pytest.approx([1 / (1 + math.exp(-2))] * 2)
    p, q = judge.ai_preference(z_a, z_b, w2), judge.ai_preference(z_b, z_a, w2)
    assert (p + q).tolist() == pytest.approx([1.0, 1.0])
    mean = judge.ai_preference(z_a, z_b, judge.equal_weights())     # equal weights: the mean logit difference
    assert mean.tolist() == pytest.approx([1 / (1 + math.exp(-(2.0 - 1.0) / C))] * 2)


def test_fit_weights_recovers_the_weights_that_made_the_labels():
    """Labels drawn from a known Bradley-Terry model on the logit differences: the fit finds its weights (within
    sampling error), at the maximum an independent optimiser (L-BFGS) finds."""
    gen = torch.Generator().manual_seed(0)
    C = len(constitution.PRINCIPLES)
    true = torch.tensor([1.5, -0.5, 0.8, 0.0, 2.0, 0.3])[:C]
    z_a, z_b = torch.randn(20000, C, generator=gen), torch.randn(20000, C, generator=gen)
    y = torch.rand(20000, generator=gen) < torch.sigmoid((z_a - z_b) @ true)
    w = judge.fit_weights(z_a, z_b, y, l2=0.0)
    assert torch.allclose(w, true, atol=0.12), w        # sampling error of 20,000 labels: SE ~0.03
    # and the same maximum as an independent optimiser: plain gradient descent on the mean negative log-likelihood
    v = torch.zeros(C, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([v], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")
    x, t = (z_a - z_b).double(), y.double()

    def nll():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ v, t)
        loss.backward()
        return loss
    opt.step(nll)
    assert torch.allclose(w.double(), v.detach(), atol=1e-4)


def test_judge_logits_match_one_unpadded_pass_per_check(chain_dir):
    """The batched, left-padded yes-vs-no logits equal a slow loop: one check at a time, no padding, the
    log-softmax of the last position, log P(yes) - log P(no)."""
    from nano_rlhf.checkpoint import build_policy, load_checkpoint, load_tokenizer
    from contextlib import nullcontext
    ckpt = load_checkpoint(str(chain_dir / "sft.pt"), "sft")
    model, tok = build_policy(ckpt, "cpu").eval(), load_tokenizer(ckpt)
    w = World(0)
    prompts = [p.text for p in w.train_prompts[:3]]
    responses = [" The banana is red.", " You are a moron. Glad to help!", " Let me see. It is 7. It is 7."]
    z = judge.judge_logits(model, tok, prompts, responses, "cpu", nullcontext, batch_size=4)
    shared, yes, no = judge.answer_ids(tok)
    assert tok.decode(shared + [yes]) != tok.decode(shared + [no]) and " Yes.".startswith(tok.decode(shared))
    for i, (p, r) in enumerate(zip(prompts, responses)):
        for c, principle in enumerate(constitution.PRINCIPLES):
            ids = torch.tensor([tok.encode(constitution.check_prompt(principle, p, r)) + shared])
            logp = torch.log_softmax(model(ids)[0, -1].double(), -1)
            assert z[i, c].item() == pytest.approx((logp[yes] - logp[no]).item(), abs=1e-4)


def test_the_ai_labeler_and_the_fraction(chain_dir):
    """The AI labeler compares every pair once in the human's order and draws nothing from the rng; the fraction
    labeler gives about F of the prompts to the human, the same prompts whatever labels the rest."""
    from contextlib import nullcontext
    from nano_rlhf.checkpoint import build_policy, load_checkpoint, load_tokenizer
    ckpt = load_checkpoint(str(chain_dir / "sft.pt"), "sft")
    ai = judge.AILabeler(build_policy(ckpt, "cpu").eval(), load_tokenizer(ckpt), "cpu", nullcontext)
    rng = random.Random(0)
    state = rng.getstate()
    comps = ai("User: What colour is the banana?\nAssistant:", [" Yellow.", " It is red.", " Hi."], rng)
    assert sorted(tuple(sorted(c)) for c in comps) == [(0, 1), (0, 2), (1, 2)] and rng.getstate() == state
    assert ai.pairs == 3
    calls = []
    human = lambda p, t, r: calls.append(p) or [(0, 1)]  # noqa: E731
    other = lambda p, t, r: [(1, 0)]  # noqa: E731
    lab = judge.fraction_labeler(human, None, 0.25, seed=3)
    got = [lab(str(i), ["a", "b"], rng) for i in range(4000)]
    assert abs(sum(g is not None for g in got) / 4000 - 0.25) < 0.03
    humans = list(calls)
    calls.clear()
    lab2 = judge.fraction_labeler(human, other, 0.25, seed=3)
    got2 = [lab2(str(i), ["a", "b"], rng) for i in range(4000)]
    assert calls == humans and all((g is None) == (h == [(1, 0)]) for g, h in zip(got, got2))


class ShorterJudge:
    """A stub judge for the agreement report: one logit, minus the word count (it prefers the shorter reply)."""
    weights = torch.ones(1)

    def logits(self, prompts, texts):
        return torch.tensor([[-float(len(t.split()))] for t in texts])


@pytest.mark.exercise("ai_preference")
def test_agreement_per_gold_component_matches_a_slow_loop():
    """ai_label_agreement's per-component rows, against a loop over the pairs: the pairs whose gold components
    differ in exactly one, and whether the judge picked the reply that component prefers. With a judge that
    prefers the shorter reply: an added insult or filler it catches (1.0), a missing closer it gets wrong (0.0)."""
    from nano_rlhf.evaluate import ai_label_agreement
    w = World(0)
    pairs = []
    for i, prompt in enumerate(p.text for p in w.split("test")[:40]):
        best = w.best_response(prompt)
        plain = best[:-len(CLOSERS[0])].rstrip()
        pairs += [(prompt, best, f" {INSULTS[i % 6]}{best}"), (prompt, f"{plain} {FILLERS[i % 6]}", best),
                  (prompt, best, plain)]
    got = ai_label_agreement(w, ShorterJudge(), pairs)["by_component"]
    expect = {}
    for prompt, a, b in pairs:
        ga, gb = w.gold_reward(prompt, a).components, w.gold_reward(prompt, b).components
        differ = [c for c in ga if ga[c] != gb[c]]
        if len(differ) == 1:
            judge_picks_a = len(a.split()) <= len(b.split())
            expect.setdefault(differ[0], []).append(judge_picks_a == (ga[differ[0]] > gb[differ[0]]))
    assert set(got) == set(expect) and {"harmless", "helpful"} <= set(got)
    for c, hits in expect.items():
        assert got[c]["n"] == len(hits) and got[c]["vs_gold"] == pytest.approx(sum(hits) / len(hits)), c
    assert got["harmless"]["vs_gold"] == 1.0 and got["helpful"]["vs_gold"] == 0.0


def test_pseudo_labels_by_hand():
    """Confident pairs get the teacher's label (1: a chosen, 0: b chosen); the rest stay unlabelled (-1)."""
    import sys
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    import numpy as np
    import rlaif
    p = np.array([0.95, 0.5, 0.05, 0.7, 0.3, 0.8])
    assert rlaif.pseudo_label(p, 0.8).tolist() == [1, -1, 0, -1, -1, 1]
    assert rlaif.pseudo_label(p, 0.5).tolist() == [1, 1, 0, 1, 0, 1]      # 0.5 itself: a's (as AILabeler's ties)


def test_the_seal():
    """Sealed, every gold-only method raises; reporting() opens it and closes it again; unseal restores."""
    w = World(0)
    p = w.train_prompts[0].text
    w.seal()
    for call in (lambda: w.gold_reward(p, " Hi."), lambda: w.label(p, " a", " b", random.Random(0)),
                 lambda: w.fact_of(p), lambda: w.best_response(p), lambda: w.gold_reward_best([p]),
                 lambda: w.preference_probability(p, " a", " b")):
        with pytest.raises(GoldLeak):
            call()
    with w.reporting():
        assert w.fact_of(p).subject == "banana"
    with pytest.raises(GoldLeak):
        w.fact_of(p)
    w.unseal()
    assert w.gold_reward(p, w.best_response(p)).total == 2.0


def test_the_labeler_flags_that_contradict_each_other():
    """Each contradiction is one line naming the flags (Config.problems; the CLI prints it and exits with 2)."""
    import dataclasses
    import train_rm
    cfg = lambda **kw: dataclasses.replace(train_rm.Config(), **kw)  # noqa: E731
    assert cfg(labeler="ai").problems() == [] and cfg(label_fraction=0.1, rest="ai", judge_fit=50).problems() == []
    for bad, words in [(dict(labeler="ai", label_fraction=0.5), "--rest ai"), (dict(rest="ai"), "leaves nothing"),
                       (dict(judge_fit=10), "--judge-fit"), (dict(data="x.jsonl", labeler="ai"), "--data")]:
        problems = cfg(**bad).problems()
        assert len(problems) == 1 and words in problems[0], (bad, problems)


@pytest.mark.requires_solutions
def test_no_judge_without_its_lessons(chain_dir, tmp_path):
    """--labeler ai on an SFT model trained without principle checks: one line naming what to run."""
    import shutil
    import train_rm
    from nano_rlhf.common import UserError, with_preset
    shutil.copyfile(chain_dir / "sft.pt", tmp_path / "sft.pt")
    with pytest.raises(UserError, match=f"run python train_sft.py --init {tmp_path}/sft.pt --principle-checks 2560 "
                                        f".* --out-dir {tmp_path}/judge, then add --judge {tmp_path}/judge/sft.pt"):
        train_rm.main(with_preset(train_rm.Config, train_rm.PRESETS, "test", out_dir=str(tmp_path), labeler="ai"))


@pytest.mark.requires_solutions
def test_a_judge_of_its_own_labels_for_the_untouched_sft_model(chain_dir, tmp_path):
    """--judge: a fine-tune of sft.pt taught the principle checks labels the pairs, while the RM samples with and
    starts from the untouched sft.pt and records both; a judge of another SFT model or one without the checks, or
    --judge without an AI labeler, is one line."""
    import json
    import shutil
    import train_rm
    import train_sft
    from nano_rlhf.checkpoint import load_checkpoint
    from nano_rlhf.common import UserError, with_preset
    shutil.copyfile(chain_dir / "sft.pt", tmp_path / "sft.pt")

    def fine_tune(name, init, checks):
        train_sft.main(with_preset(train_sft.Config, train_sft.PRESETS, "test", out_dir=str(tmp_path / name),
                                   init=str(init), principle_checks=checks, max_steps=10, eval_samples=8))
        return str(tmp_path / name / "sft.pt")

    def rm(**flags):
        return train_rm.main(with_preset(train_rm.Config, train_rm.PRESETS, "test", out_dir=str(tmp_path), **flags))
    judge = fine_tune("judge", tmp_path / "sft.pt", 64)
    summary = rm(labeler="ai", judge=judge)
    sft, ckpt = load_checkpoint(str(tmp_path / "sft.pt"), "sft"), load_checkpoint(str(tmp_path / "rm.pt"), "rm")
    assert ckpt["parents"] == {"sft": sft["id"], "judge": load_checkpoint(judge, "sft")["id"]}
    assert summary["labels"]["ai"] == summary["n_pairs"] > 0 and 0 <= summary["ai_labels"]["vs_gold"] <= 1
    assert f"the fine-tune {judge}" in json.loads((tmp_path / "preferences.meta.json").read_text())["labeler"]
    for bad, why in ((fine_tune("plain", tmp_path / "sft.pt", 0), "trained without the principle checks"),
                     (fine_tune("other", judge, 64), "was built from another SFT model")):   # a grandchild of sft.pt
        with pytest.raises(UserError, match=why):
            rm(labeler="ai", judge=bad)
    with pytest.raises(UserError, match="--judge is the AI labeler"):
        rm(judge=judge)


@pytest.fixture(scope="module")
def ai_chain(tmp_path_factory, request):
    """The whole --preset test chain on AI labels: SFT with principle checks, train_rm.py --labeler ai, PPO, DPO and
    the critic-free trainer on its labels, then an RM on half human, half AI labels; every World.seal call counted."""
    import train_dpo
    import train_grpo
    import train_ppo
    import train_rm
    import train_sft
    from conftest import skip_unless_solved
    from nano_rlhf.common import with_preset
    skip_unless_solved(request)
    seals, seal, patch = [], World.seal, pytest.MonkeyPatch()
    patch.setattr(World, "seal", lambda self, on=True: seals.append(on) or seal(self, on))
    out = tmp_path_factory.mktemp("ai_chain")
    try:
        train_sft.main(with_preset(train_sft.Config, train_sft.PRESETS, "test", out_dir=str(out), principle_checks=200))
        rm = train_rm.main(with_preset(train_rm.Config, train_rm.PRESETS, "test", out_dir=str(out), labeler="ai"))
        meta = (out / "preferences.meta.json").read_text()
        train_ppo.main(with_preset(train_ppo.Config, train_ppo.PRESETS, "test", out_dir=str(out)))
        train_dpo.main(with_preset(train_dpo.Config, train_dpo.PRESETS, "test", out_dir=str(out)))
        train_grpo.main(with_preset(train_grpo.Config, train_grpo.PRESETS, "test", out_dir=str(out)))
        sealed = list(seals)
        mixed = train_rm.main(with_preset(train_rm.Config, train_rm.PRESETS, "test", out_dir=str(out),
                                          label_fraction=0.5, rest="ai", judge_fit=200))
    finally:
        patch.undo()
    return {"dir": out, "sealed": sealed, "seals": seals, "rm": rm, "mixed": mixed, "meta": meta}


@pytest.mark.requires_solutions
def test_the_ai_chain_runs_sealed(ai_chain):
    """Gold is sealed in every gold-free part of the AI chain (SFT's training, the RM's labelling and training,
    PPO's, DPO's and GRPO's loops), so a call of gold_reward, label or fact_of there would raise; the seals are counted, so removing
    one fails here too."""
    import json
    rm, mixed = ai_chain["rm"], ai_chain["mixed"]
    assert rm["labels"]["human"] == 0 and rm["labels"]["ai"] == rm["n_pairs"] > 0
    assert 0 <= rm["ai_labels"]["vs_human"] <= 1 and set(rm["ai_labels"]["by_kind"]) == {"colour", "sound", "sum"}
    assert rm["labels"]["ai_seconds_per_1000"] > 0 and "by_component" in rm["ai_labels"]
    meta = json.loads(ai_chain["meta"])
    assert meta["labeler"].startswith("AI judge")
    assert ai_chain["sealed"] == [True] * 6     # SFT, RM labelling (AI), RM training, PPO, DPO, GRPO
    assert mixed["labels"]["human"] > 0 and mixed["labels"]["ai"] > 0 and ai_chain["seals"][-2:] == [False, True]


@pytest.mark.requires_solutions
def test_the_experiment_runs_on_a_tiny_chain(ai_chain, tmp_path):
    """rlaif.py --quick on the AI chain's judge: every arm at both label fractions, the threshold chosen on dev,
    PPO on five RMs, the table's numbers and the figure. The pseudo arm keeps exactly the human-only arm's human
    labels and adds the teacher's confident ones."""
    import shutil
    import sys
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    import rlaif
    (tmp_path / "chain").mkdir()
    shutil.copyfile(ai_chain["dir"] / "sft.pt", tmp_path / "chain" / "sft.pt")
    out = rlaif.main(rlaif.parse(["--quick", "--out-dir", str(tmp_path / "chain"), "--work-dir", str(tmp_path / "w")]))
    assert not (tmp_path / "w" / "sft_principles").exists()             # --out-dir's judge was used
    assert set(out["rm"]) == {"human", "pseudo", "ai"} and set(out["rm"]["human"]) == {"50", "100"}
    assert out["threshold"] in rlaif.THRESHOLDS and set(out["ppo"]) == {
        "human_50", "ai_50", "pseudo_50", "human_100", "ai_only"}
    pseudo, human = out["pseudo"]["50"]["0"], out["rm"]["human"]["50"]["0"]
    assert pseudo["human_pairs"] == human["n_pairs"] == human["human_labels"] > 0
    assert out["rm"]["pseudo"]["50"]["0"]["n_pairs"] == pseudo["human_pairs"] + pseudo["pseudo_pairs"]
    assert out["rm_ai_only"]["0"]["human_labels"] == 0 and set(out["probes"]) == {
        "insult", "misspelt_insult", "filler", "wrong_answer", "garbled", "no_closer"}
    assert (tmp_path / "w" / "rlaif.png").stat().st_size > 1000
