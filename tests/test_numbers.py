"""Numbers that README.md and the lessons quote from runs are checked against the committed summaries they came
from (lessons/results/*.json, lessons/experiments/*.json), so the text cannot drift from the runs again.

Each claim is a piece of the document's text with {file.key:format} fields: `{ppo.gold_reward_ppo:+.2f}` is the
value of "gold_reward_ppo" in lessons/results/ppo.json, formatted "+.2f". Keys can go deeper with dots and list
indices (`{frontier.rows.0.gold:+.2f}`). The filled-in text must appear in the document (a minus sign may be
written − or -). When a re-run changes a summary, this test names every sentence to update. Later issues add
their tables here the same way.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"sft": "lessons/results/sft.json", "rm": "lessons/results/rm.json", "ppo": "lessons/results/ppo.json",
           "ppo1": "lessons/results/ppo_seed1.json", "ppo2": "lessons/results/ppo_seed2.json",
           "dpo": "lessons/results/dpo.json", "bon": "lessons/results/bon.json",
           "frontier": "lessons/experiments/frontier.json"}
FIELD = re.compile(r"\{(\w+)\.([\w.]+):([^}]*)\}")

CLAIMS = {
    "README.md": [
        "gold {sft.gold_reward:+.2f} ± {sft.gold_reward_se:.2f}",
        "EOS rate {sft.eos_rate:.2f}",
        "held-out accuracy {rm.val_accuracy:.2f} ± {rm.val_accuracy_se:.2f} against a labeler ceiling of "
        "{rm.labeler_accuracy:.2f} (skill {rm.skill_vs_ceiling:.2f} ± {rm.skill_se:.2f}); Spearman "
        "{rm.gold_correlation.spearman:.2f}",
        "gold {ppo.gold_reward_sft:+.2f} → {ppo.gold_reward_ppo:+.2f} ± {ppo.gold_reward_ppo_se:.2f}",
        "KL {ppo.kl:.1f} nats, win rate vs SFT {ppo.win_rate_vs_sft:.2f} ± {ppo.win_rate_vs_sft_se:.2f}",
        "| 0 | {ppo.gold_reward_sft:+.2f} → {ppo.gold_reward_ppo:+.2f} ± {ppo.gold_reward_ppo_se:.2f} | "
        "{ppo.gold_gain:+.2f} ± {ppo.gold_gain_se:.2f} | {ppo.kl:.2f} | {ppo.win_rate_vs_sft:.3f} ± "
        "{ppo.win_rate_vs_sft_se:.3f} |",
        "| 1 | {ppo1.gold_reward_sft:+.2f} → {ppo1.gold_reward_ppo:+.2f} ± {ppo1.gold_reward_ppo_se:.2f} | "
        "{ppo1.gold_gain:+.2f} ± {ppo1.gold_gain_se:.2f} | {ppo1.kl:.2f} | {ppo1.win_rate_vs_sft:.3f} ± "
        "{ppo1.win_rate_vs_sft_se:.3f} |",
        "| 2 | {ppo2.gold_reward_sft:+.2f} → {ppo2.gold_reward_ppo:+.2f} ± {ppo2.gold_reward_ppo_se:.2f} | "
        "{ppo2.gold_gain:+.2f} ± {ppo2.gold_gain_se:.2f} | {ppo2.kl:.2f} | {ppo2.win_rate_vs_sft:.3f} ± "
        "{ppo2.win_rate_vs_sft_se:.3f} |",
        "DPO (β = 0.3, one epoch) reaches gold {dpo.gold_reward_dpo:+.2f} ± {dpo.gold_reward_dpo_se:.2f} at KL "
        "{dpo.kl:.2f} nats",
        "Best-of-16 reaches {bon.gold_reward_bon:+.2f} ± {bon.gold_reward_bon_se:.2f}",
    ],
}


def lookup(data, path: str):
    for key in path.split("."):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def fill(template: str, results: dict) -> str:
    return FIELD.sub(lambda m: format(lookup(results[m[1]], m[2]), m[3]), template).replace("−", "-")


@pytest.fixture(scope="module")
def results():
    return {name: json.loads((ROOT / path).read_text()) for name, path in SOURCES.items()}


def test_every_committed_summary_says_its_split(results):
    for name, data in results.items():
        assert data.get("split") == "test", f"{SOURCES[name]}: reported numbers come from the test split"


@pytest.mark.parametrize("doc", sorted(CLAIMS))
def test_quoted_numbers_match_the_committed_summaries(doc, results):
    text = (ROOT / doc).read_text().replace("−", "-")
    text = re.sub(r"\s+", " ", text)            # a claim may wrap across lines
    missing = [fill(t, results) for t in CLAIMS[doc] if fill(t, results) not in text]
    assert not missing, f"{doc} no longer quotes these numbers from {sorted(SOURCES.values())}:\n" + "\n".join(missing)


def test_a_changed_number_is_caught(results, tmp_path):
    """The check can fail: one digit off in a summary and the README's sentence no longer matches."""
    changed = json.loads(json.dumps(results))
    changed["ppo"]["gold_reward_ppo"] += 0.05
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text().replace("−", "-"))
    assert any(fill(t, changed) not in text for t in CLAIMS["README.md"])
