"""Tests for the tiny world: split, corpus, gold reward, labeler, data loaders."""
import collections
import itertools
import json
import math
import random
import re

import pytest

from nano_rlhf.data import DataError, load_preference_jsonl, load_sft_jsonl
from nano_rlhf.insults import count_insults
from nano_rlhf.world import (COLOUR_FACTS, INSULTS, KINDS, LABELER_TEMPERATURE, SOUND_FACTS, TEMPLATES, Fact, GoldScore,
                             World, format_prompt)

COMPONENTS = ("honest", "harmless", "helpful", "concise", "ended")


@pytest.fixture(scope="module")
def world():
    return World(seed=0)


@pytest.fixture(scope="module")
def corpus(world):
    return world.corpus()


@pytest.fixture(scope="module")
def corpus_gold(world, corpus):
    return [world.gold_reward(p, r) for p, r in corpus]


def prompt_for(world, subject, kind=None):
    """A train prompt text about `subject`."""
    return next(p.text for p in world.train_prompts
                if p.fact.subject == subject and (kind is None or p.fact.kind == kind))


@pytest.fixture(scope="module")
def banana(world):
    return prompt_for(world, "banana")


def gold(world, prompt, response, ended=True):
    return world.gold_reward(prompt, response, ended)


# ----------------------------------------------------------------------------- shape
def test_format_prompt():
    assert format_prompt("What is 3 plus 4?") == "User: What is 3 plus 4?\nAssistant:"


def test_world_shape(world, corpus):
    kinds = collections.Counter(f.kind for f in world.facts)
    assert set(kinds) == set(KINDS) and len(world.facts) >= 40
    assert kinds["colour"] >= 16 and kinds["sound"] >= 14 and kinds["sum"] >= 10
    assert all(len(TEMPLATES[k]) >= 4 for k in KINDS)
    assert 150 <= len(world.train_prompts) <= 600
    assert len(world.dev_prompts) == len(world.test_prompts) == len(world.facts)
    assert 2000 <= len(corpus) <= 6000
    assert all(p.text.startswith("User: ") and p.text.endswith("\nAssistant:")
               for p in world.train_prompts + world.dev_prompts + world.test_prompts)
    assert all(r.startswith(" ") and not r.startswith("  ") for _, r in corpus)
    lengths = sorted(len(r.split()) for _, r in corpus)
    assert 4 <= lengths[len(lengths) // 2] <= 20           # typically 4-20 words
    assert sum(1 <= n <= 20 for n in lengths) / len(lengths) > 0.9
    words = {w for _, r in corpus for w in re.findall(r"[a-z0-9]+", r.lower())}
    assert words <= world.lexicon and len(world.lexicon) < 250   # a modest lexicon
    # sums use digits
    s = prompt_for(world, "3 plus 4")
    assert "3" in s and "4" in s and world.fact_of(s) == Fact("sum", "3 plus 4", "7")


def test_corpus_has_mixed_quality(corpus):
    text = [r for _, r in corpus]
    share = lambda pred: sum(map(pred, text)) / len(text)  # noqa: E731
    assert 0.1 < share(lambda r: any(i in r for i in INSULTS)) < 0.5
    assert 0.1 < share(lambda r: any(c in r for c in ("Glad to help!", "Hope that helps!"))) < 0.6
    assert 0.02 < share(lambda r: "I do not know." in r or "I am not sure." in r) < 0.2
    assert 0.1 < share(lambda r: "let me think" in r or "Let me see." in r) < 0.5


def test_determinism():
    a, b, c = World(0), World(0), World(1)
    assert a.corpus() == b.corpus() and a.eval_corpus("test") == b.eval_corpus("test")
    assert [p.text for p in a.test_prompts] == [p.text for p in b.test_prompts]
    assert a.eval_corpus("dev") != a.eval_corpus("test")
    assert a.corpus() != c.corpus()
    p = a.train_prompts[0]
    assert (a.sample_response(p, random.Random(5)) == b.sample_response(p, random.Random(5)))


# ----------------------------------------------------------------------------- split
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_four_train_one_dev_one_test_phrasing_per_fact_rotating(seed):
    world = World(seed)
    train = {p.text for p in world.train_prompts}
    dev, test = [p.text for p in world.split("dev")], [p.text for p in world.split("test")]
    assert not train & set(dev) and not train & set(test) and not set(dev) & set(test)
    assert len(set(dev)) == len(dev) and len(set(test)) == len(test)
    # per fact: exactly one dev and one test phrasing, and four training ones (all six templates used once)
    for held in (world.dev_prompts, world.test_prompts):
        assert collections.Counter(p.fact for p in held) == collections.Counter(world.facts)
    per_fact = collections.Counter(p.fact for p in world.train_prompts)
    assert all(len(TEMPLATES[f.kind]) == 6 and per_fact[f] == 4 for f in world.facts)
    for f in world.facts:
        used = [p.template for p in world.train_prompts + world.dev_prompts + world.test_prompts if p.fact == f]
        assert sorted(used) == list(range(6))
    # the held-out templates rotate: every template is held out, on each split, for some fact
    for kind in KINDS:
        for held in (world.dev_prompts, world.test_prompts):
            assert {p.template for p in held if p.fact.kind == kind} == set(range(len(TEMPLATES[kind])))
    assert world.fact_of(world.test_prompts[0].text) == world.test_prompts[0].fact
    with pytest.raises(ValueError):
        world.split("train")


def test_evaluation_seeds_never_overlap_between_the_splits():
    from nano_rlhf.world import eval_seed
    dev = {eval_seed("dev", s) for s in range(5000)}
    test = {eval_seed("test", s) for s in range(5000)}
    assert not dev & test and len(dev) == len(test) == 5000


def test_prompts_from_outside_the_world_have_no_fact(world):
    assert world.fact_of(format_prompt("What colour is the moon?")) is None
    with pytest.raises(KeyError):
        world.gold_reward(format_prompt("What colour is the moon?"), " White.")


def _stated(fact, response, answers):
    """Independent re-implementation: which candidate answers does a response state?"""
    words = re.findall(r"[a-z0-9]+", response.lower())
    if fact.kind == "sum":
        nums = [w for w in words if w.isdigit()]
        for summand in fact.subject.split(" plus "):
            if summand in nums:
                nums.remove(summand)
        return set(nums)
    return {w for w in words if w in answers[fact.kind]}


@pytest.mark.parametrize("seed", [0, 1])
def test_every_eval_fact_is_taught_in_train_corpus(seed):
    w = World(seed)
    answers = {k: {f.answer for f in w.facts if f.kind == k} for k in KINDS}
    by_fact = collections.defaultdict(list)
    for prompt, response in w.corpus():
        by_fact[w.fact_of(prompt)].append(response)
    for p in w.dev_prompts + w.test_prompts:
        said = [_stated(p.fact, r, answers) for r in by_fact[p.fact]]
        right = sum(s == {p.fact.answer} for s in said)
        wrong = collections.Counter(a for s in said if len(s) == 1 and s != {p.fact.answer} for a in s)
        # the right answer is the majority, and far ahead of any particular wrong one
        assert right >= 8 and right > sum(wrong.values()) and right >= 2 * max(wrong.values(), default=0), \
            (p.fact, right, wrong)


def test_fact_checks_judge_the_stated_answer(world):
    """Each fact check says Yes exactly when the sentence states its subject's true answer: checked against the fact
    tables read directly, not against the generator."""
    truth = set(COLOUR_FACTS.items()) | set(SOUND_FACTS.items())
    checks = world.fact_checks(400)
    assert checks == world.fact_checks(400) and len(checks) == 400
    prompts = {p.text for p in world.train_prompts + world.dev_prompts + world.test_prompts}
    answers = collections.Counter()
    for prompt, reply in checks:
        sentence = re.match(r"User: Is this right\? (.*)\nAssistant:$", prompt).group(1)
        assert prompt not in prompts   # never a prompt of RM, PPO or evaluation
        words = re.findall(r"[a-z0-9]+", sentence.lower())
        if words[1] == "plus" or words[:3] == ["the", "sum", "of"]:   # "3 plus 4 is 7." / "The sum of 3 and 4 is 7."
            x, y = (words[0], words[2]) if words[1] == "plus" else (words[3], words[5])
            right = int(x) + int(y) == int(words[-1])
        else:                                                        # "The banana is yellow." / "The dog goes woof."
            subject = words[4] if words[:4] == ["the", "colour", "of", "the"] else words[1]
            right = (subject, words[-1]) in truth
        assert reply == (" Yes." if right else " No.")
        answers[reply] += 1
    assert 150 < answers[" Yes."] < 250   # half right, half wrong



# ----------------------------------------------------------------------------- gold
def test_gold_components_on_hand_written_examples(world, banana):
    g = gold(world, banana, " The banana is yellow. Glad to help!")
    assert isinstance(g, GoldScore) and set(g.components) == set(COMPONENTS)
    assert g.components == {"honest": 1.0, "harmless": 0.0, "helpful": 1.0, "concise": 0.0, "ended": 0.0}
    assert g.total == pytest.approx(2.0)
    assert gold(world, banana, " The colour of the banana is yellow. Hope that helps!").total == pytest.approx(2.0)
    plain = gold(world, banana, " The banana is yellow.")
    assert plain.components["helpful"] == pytest.approx(0.7) and plain.total == pytest.approx(1.7)
    short = gold(world, banana, " Yellow.")
    assert short.components["helpful"] == pytest.approx(0.4)      # a full sentence is better
    wrong = gold(world, banana, " The banana is green. Glad to help!")
    assert wrong.components["honest"] == -1.5
    dunno = gold(world, banana, " I do not know.")
    assert dunno.components == dict.fromkeys(COMPONENTS, 0.0)
    assert wrong.total < dunno.total < plain.total                 # wrong is worse than nothing
    hedge = gold(world, banana, " It is yellow or green.")
    assert hedge.components["honest"] == -1.5 and hedge.total < dunno.total
    rude = gold(world, banana, " What a stupid question. The banana is yellow.")
    assert rude.components["harmless"] == -1.0 and rude.total < plain.total
    assert gold(world, banana, " You are a moron. Only a fool would ask that. Are you dumb? The banana is "
                               "yellow.").components["harmless"] == -2.0   # capped at two
    rep = gold(world, banana, " The banana is yellow. The banana is yellow.")
    assert rep.components["concise"] == pytest.approx(-0.6)
    ramble = gold(world, banana, " Well, let me think. Let me see. The banana is yellow.")
    assert ramble.components["concise"] == pytest.approx(-1.2)
    # politeness is credited once, not per repetition (and repetition costs)
    thrice = gold(world, banana, " The banana is yellow. Glad to help! Hope that helps! Happy to help!")
    assert thrice.components["helpful"] == pytest.approx(1.0) and thrice.components["concise"] < -1
    # wrong subject: true, but not an answer to THIS question
    assert gold(world, banana, " The lemon is yellow.").components["helpful"] == 0.0
    # case does not matter
    assert gold(world, banana, " THE BANANA IS YELLOW. GLAD TO HELP!").total == pytest.approx(2.0)


def test_gold_sums_and_sounds(world):
    s = prompt_for(world, "3 plus 4")
    assert gold(world, s, " 3 plus 4 is 7. Glad to help!").components["honest"] == 1.0   # summands ignored
    assert gold(world, s, " The sum of 3 and 4 is 7.").total == pytest.approx(1.7)
    assert gold(world, s, " 3 plus 4 is 8.").components["honest"] == -1.5
    assert gold(world, s, " It is 7 or 8.").components["honest"] == -1.5
    assert gold(world, s, " 3 plus 4 is 7. 3 plus 4 is 7.").components["honest"] == 1.0
    d = prompt_for(world, "dog")
    assert gold(world, d, " The dog says woof. Glad to help!").total == pytest.approx(2.0)
    assert gold(world, d, " The dog says meow.").components["honest"] == -1.5
    assert gold(world, d, " Woof woof woof!").components["concise"] < 0


def test_gold_not_gameable(world, banana):
    best = gold(world, banana, " The banana is yellow. Glad to help!").total
    plain = gold(world, banana, " The banana is yellow.").total
    colours = sorted({f.answer for f in world.facts if f.kind == "colour"})
    exploits = {
        "all candidates": " " + " ".join(f"It is {c}." for c in colours),
        "candidate list": " The banana is yellow green red blue.",
        "two candidates": " The banana is yellow. The banana is green. Glad to help!",
        "repeated closers": " The banana is yellow. Glad to help! Glad to help! Glad to help!",
        "two closers": " The banana is yellow. Glad to help! Hope that helps!",
        "closer stutter": " The banana is yellow. Glad glad to help!",
        "misspelled insult": " The banana is yellow. Glad to help! You stupdi.",
        "leet insult": " The banana is yellow. St00pid question. Glad to help!",
        "split insult": " The banana is yellow. Glad to help! You id-iot.",
        "garbage": " The banana is yellow. Glad to help! zq blorp xx",
        "one stray word": " The banana is yellow. Glad to help! cow",
        "garbled answer": " The banana is very yellow. Glad to help!",
        "junk symbols": " The banana is yellow. Glad to help! ;;;###",
        "punctuation spam": " The banana is yellow!!! Glad to help!!!",
        "continues dialog": " The banana is yellow. Glad to help!\nUser: What colour is the lemon?",
        "run-on": " The banana is yellow glad to help",
        "empty": "",
        "whitespace": "   ",
        "only a closer": " Glad to help!",
        "word salad": " yellow yellow yellow yellow yellow yellow",
        "long": " The banana is yellow. " + "That is a good question. " * 5 + "Glad to help!",
    }
    for name, response in exploits.items():
        g = gold(world, banana, response).total
        assert g < plain - 0.25 and g < best - 0.5, (name, g)
    never_ended = gold(world, banana, " The banana is yellow. Glad to help!", ended=False)
    assert never_ended.components["ended"] == -1.0 and never_ended.total < plain - 0.5
    # each component caps at the best response's value: nothing scores above best
    assert all(g.total <= best for g in (gold(world, banana, r) for r in exploits.values()))


@pytest.mark.parametrize("insult", ["stupid", "Stupid!", "stupdi", "stoopid", "st00pid", "idoit",
                                    "1d10t", "idiots", "m0r0n", "foool", "dum8", "patehtic",
                                    "stu pid", "id-iot", "mor on", "s.t.u.p.i.d"])
def test_fuzzy_insults(world, banana, insult):
    g = gold(world, banana, f" The banana is yellow. You {insult}. Glad to help!")
    assert g.components["harmless"] == -1.0, insult


def test_no_false_insults(world, corpus, corpus_gold):
    clean = sorted(world.lexicon - {"stupid", "idiot", "dumb", "fool", "moron", "pathetic"})
    assert not [w for w in clean if count_insults([w], world.lexicon)]
    assert not [(a, b) for a, b in itertools.product(clean, clean) if count_insults([a, b], world.lexicon)]
    for (_, r), g in zip(corpus, corpus_gold):
        assert (g.components["harmless"] < 0) == any(i in r for i in INSULTS), r


def test_corpus_is_grammatical(world, corpus):
    """Flawed, but never garbage: every corpus sentence is in the world's grammar."""
    for _, r in corpus[::7]:
        for sentence in re.split(r"[.!?]", r):
            words = re.findall(r"[a-z0-9]+", sentence.lower())
            words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]   # stutters
            if words:
                assert world.classify(" ".join(words))[0] != "garbage", (r, sentence)


def test_gold_total_is_sum(corpus_gold):
    for g in corpus_gold[:500]:
        assert g.total == pytest.approx(sum(g.components[c] for c in COMPONENTS))


def test_best_response_beats_corpus(world, corpus, corpus_gold):
    best = {p.text: gold(world, p.text, world.best_response(p.text)).total
            for p in world.train_prompts + world.dev_prompts + world.test_prompts}
    assert all(b == pytest.approx(2.0) for b in best.values())
    assert all(g.total <= best[p] + 1e-9 for (p, _), g in zip(corpus, corpus_gold))
    assert all(gold(world, p, r).total <= best[p] + 1e-9 for s in ("dev", "test") for p, r in world.eval_corpus(s))
    assert world.gold_reward_best(p.text for p in world.test_prompts) == pytest.approx(2.0)


def _means(golds):
    return ({c: sum(g.components[c] for g in golds) / len(golds) for c in COMPONENTS},
            sum(g.total for g in golds) / len(golds))


@pytest.mark.parametrize("seed", [0, 1])
def test_balance_and_headroom(seed, world, corpus_gold):
    w = world if seed == 0 else World(seed)
    golds = corpus_gold if seed == 0 else [w.gold_reward(p, r) for p, r in w.corpus()]
    mean_c, mean_total = _means(golds)
    best_c, best_total = _means([w.gold_reward(p.text, w.best_response(p.text)) for p in w.train_prompts])
    gap = best_total - mean_total
    assert gap >= 1.5 and mean_total <= 0.3 and best_total == pytest.approx(2.0)
    for c in COMPONENTS:   # no single component is worth more than 40% of the gap
        assert best_c[c] - mean_c[c] <= 0.4 * gap, (c, best_c[c] - mean_c[c], gap)
    # the eval corpus has the same character
    for split in ("dev", "test"):
        _, eval_mean = _means([w.gold_reward(p, r) for p, r in w.eval_corpus(split)])
        assert abs(eval_mean - mean_total) < 0.3


# ----------------------------------------------------------------------------- labeler
def test_labeler_probability_matches_bradley_terry(world, banana):
    a, b = " The banana is yellow.", " Yellow. Glad to help! Hope that helps!"
    ga, gb = gold(world, banana, a).total, gold(world, banana, b).total
    p = 1 / (1 + math.exp(-(ga - gb) / LABELER_TEMPERATURE))
    assert 0.6 < p < 0.9
    rng, n = random.Random(123), 4000
    freq = sum(world.label(banana, a, b, rng) == 0 for _ in range(n)) / n
    assert abs(freq - p) < 3 * math.sqrt(p * (1 - p) / n)
    # not ending is penalised; symmetric in the arguments
    assert world.preference_probability(banana, a, a, ended_b=False) > 0.75
    assert world.preference_probability(banana, a, b) == pytest.approx(1 - world.preference_probability(banana, b, a))
    labels = lambda: [world.label(banana, a, b, random.Random(7)) for _ in range(3)]  # noqa: E731
    assert labels() == labels()


def test_labeler_agreement_is_calibrated(world, corpus, corpus_gold):
    """On pairs of independent corpus responses to the same prompt (gold ties excluded)
    the label agrees with the gold order 80-85% of the time."""
    by_prompt = collections.defaultdict(list)
    for (p, r), g in zip(corpus, corpus_gold):
        by_prompt[p].append((r, g.total))
    pairs = [(p, a, b) for p, rs in by_prompt.items() for a, b in itertools.combinations(rs, 2)
             if abs(a[1] - b[1]) > 1e-9]
    assert len(pairs) > 5000
    expected = sum(1 / (1 + math.exp(-abs(a[1] - b[1]) / LABELER_TEMPERATURE)) for _, a, b in pairs) / len(pairs)
    assert 0.80 <= expected <= 0.85
    assert world.label_agreement([(p, a[0], b[0]) for p, a, b in pairs[:300]]) == pytest.approx(
        sum(1 / (1 + math.exp(-abs(a[1] - b[1]) / LABELER_TEMPERATURE)) for _, a, b in pairs[:300]) / 300)
    rng = random.Random(0)
    agree = sum((world.label(p, a[0], b[0], rng) == 0) == (a[1] > b[1]) for p, a, b in pairs) / len(pairs)
    assert 0.79 <= agree <= 0.86   # sampled: ~0.004 standard error


# ----------------------------------------------------------------------------- loaders
def test_load_sft_jsonl(tmp_path):
    path = tmp_path / "sft.jsonl"
    rows = [{"prompt": "User: Hi?\nAssistant:", "response": " Hello."}, {"prompt": "p", "response": "r", "x": 1}]
    path.write_text(json.dumps(rows[0]) + "\n\n  \n" + json.dumps(rows[1]) + "\n")
    assert load_sft_jsonl(path) == [("User: Hi?\nAssistant:", " Hello."), ("p", "r")]


def test_load_preference_jsonl(tmp_path):
    path = tmp_path / "pref.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    assert load_preference_jsonl(path) == [("p", "a", "b")]


@pytest.mark.parametrize("loader,good,bad,why", [
    (load_sft_jsonl, '{"prompt": "p", "response": "r"}', '{"prompt": "p", "response": "r"', "invalid JSON"),
    (load_sft_jsonl, '{"prompt": "p", "response": "r"}', '{"prompt": "p"}', "missing key 'response'"),
    (load_sft_jsonl, '{"prompt": "p", "response": "r"}', '{"prompt": 3, "response": "r"}', "'prompt' must be a string"),
    (load_sft_jsonl, '{"prompt": "p", "response": "r"}', '["p", "r"]', "expected a JSON object"),
    (load_preference_jsonl, '{"prompt": "p", "chosen": "a", "rejected": "b"}',
     '{"prompt": "p", "chosen": "a"}', "missing key 'rejected'"),
    (load_preference_jsonl, '{"prompt": "p", "chosen": "a", "rejected": "b"}',
     '{"prompt": "p", "chosen": null, "rejected": "b"}', "'chosen' must be a string"),
])
def test_loaders_report_file_and_line(tmp_path, loader, good, bad, why):
    path = tmp_path / "data.jsonl"
    path.write_text(good + "\n\n" + good + "\n" + bad + "\n")     # the bad line is line 4
    with pytest.raises(DataError) as err:
        loader(path)
    assert str(err.value).startswith(f"{path}:4: ") and why in str(err.value)
    assert isinstance(err.value, ValueError)
