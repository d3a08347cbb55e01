"""Iterated RLHF (lessons/experiments/iterated_rlhf.py): new labels on the policy's own samples, round after round."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
import iterated_rlhf  # noqa: E402

from nano_rlhf.evaluate import Sample  # noqa: E402


class FakeWorld:
    """Prefers the longer response, always (a labeler whose choices the test can predict)."""

    def label(self, prompt, a, b, rng):
        return 0 if len(a) > len(b) else 1


def test_pairs_put_the_policy_first_and_drop_what_train_rm_drops(monkeypatch):
    mine = [Sample("p0", "long one", [1, 2, 0], True), Sample("p1", "x", [3, 0], True),
            Sample("p2", "same", [4, 0], True), Sample("p3", "cut", [5], False)]
    base = [Sample("p0", "short", [6, 0], True), Sample("p1", "longer", [7, 8, 0], True),
            Sample("p2", "same", [4, 0], True), Sample("p3", "fine", [9, 0], True)]
    draws = iter([mine, base])
    monkeypatch.setattr(iterated_rlhf, "sample_policy", lambda *a, **k: next(draws))
    groups, stats = iterated_rlhf.policy_vs_sft_pairs(None, None, None, FakeWorld(), ["p0", "p1", "p2", "p3"], 4,
                                                      0, 8, "cpu", None)
    assert stats == {"unended_dropped": 1, "identical_dropped": 1}
    # p0: the policy's (first) response is longer, so chosen; p1: the SFT sample (second) is
    assert groups == [("p0", [[1, 2, 0], [6, 0]], [(0, 1)]), ("p1", [[3, 0], [7, 8, 0]], [(1, 0)])]


def test_probe_counts_who_prefers_the_policy_by_hand(monkeypatch):
    # four pairs; the policy's response is index 0 of each; the labeler chose it in pairs 0 and 2
    groups = [("a", [[1], [2]], [(0, 1)]), ("b", [[1], [2]], [(1, 0)]), ("c", [[1], [2]], [(0, 1)]),
              ("d", [[1], [2]], [(1, 0)])]
    rc, rr = np.array([2.0, 1.0, -1.0, 0.5]), np.array([1.0, 3.0, 0.0, 0.0])   # chosen vs rejected scores
    # the RM prefers the policy where (chosen is the policy and rc > rr) or (chosen is SFT and rr > rc):
    # pair 0 yes (policy chosen, 2 > 1), pair 1 yes (SFT chosen, 3 > 1), pair 2 no (-1 < 0), pair 3 no
    monkeypatch.setattr(iterated_rlhf.train_rm, "comparison_scores", lambda *a, **k: (rc, rr))
    monkeypatch.setattr(iterated_rlhf, "pairs_of", lambda g, tok: [(p, "c", "r") for p, _, _ in g])
    monkeypatch.setattr(iterated_rlhf.train_rm, "held_out_metrics", lambda *a, **k: {"val_accuracy": 0.5})
    out = iterated_rlhf.probe_report(None, None, None, groups, "cpu", None)
    assert out["rm_prefers_policy"] == 0.5 and out["labeler_prefers_policy"] == 0.5 and out["n_pairs"] == 4
    rc2 = np.array([2.0, 4.0, 1.0, -0.5])      # pair 1 flips to no (SFT 4 > policy 3), pairs 2 and 3 to yes
    monkeypatch.setattr(iterated_rlhf.train_rm, "comparison_scores", lambda *a, **k: (rc2, rr))
    assert iterated_rlhf.probe_report(None, None, None, groups, "cpu", None)["rm_prefers_policy"] == 0.75


@pytest.mark.requires_solutions
def test_the_experiment_runs_on_a_tiny_chain(rm_chain_dir, tmp_path):
    """iterated_rlhf.py --quick: two rounds of new labels, a retrained RM and PPO each; every round's RM learns
    from all the pairs so far, and round r's PPO reads round r's RM."""
    out_dir = tmp_path / "chain"
    out_dir.mkdir()
    for f in ("sft.pt", "rm.pt", "rm_summary.json", "preferences.jsonl", "preferences.meta.json"):
        shutil.copyfile(rm_chain_dir / f, out_dir / f)
    args = iterated_rlhf.parse_args(["--quick", "--out-dir", str(out_dir), "--work-dir", str(tmp_path / "work"),
                                     "--seeds", "0"], iterated_rlhf.__doc__, "iterated_rlhf", iterated_rlhf.seeds_flag)
    out = iterated_rlhf.main(args)
    rows = out["runs"]["0"]
    assert [r["round"] for r in rows] == [0, 1, 2]
    for prev, row in zip(rows, rows[1:]):
        assert row["labels"] == prev["labels"] + row["new_pairs"] and row["new_pairs"] > 0
        for when in ("probe_before", "probe_after"):
            assert 0 <= row[when]["val_accuracy"] <= 1 and row[when]["n_pairs"] > 0
        # the probe is the same pairs before and after: the labeler's side of it cannot change
        assert row["probe_before"]["labeler_prefers_policy"] == row["probe_after"]["labeler_prefers_policy"]
    assert rows[1]["ppo"]["curve"] != rows[0]["ppo"]["curve"]        # another RM, another run
    assert (tmp_path / "work" / "iterated_rlhf.png").stat().st_size > 1000
