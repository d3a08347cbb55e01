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
CHECKS = ((2560, 0), (2560, 1280), (2560, 2560), (1280, 1280))   # (fact, principle): principle_checks_dev.sh
RLAIF_RM_TABLE = [   # RM skill by label budget and arm, over seeds: lesson 8 and README quote it
    '| 5% | {rlaif.over_seeds.rm.human.5.human_labels.mean:,.0f} | {rlaif.over_seeds.rm.human.5.skill.mean:.2f} ± {rlaif.over_seeds.rm.human.5.skill.se:.2f} | {rlaif.over_seeds.rm.pseudo.5.skill.mean:.2f} ± {rlaif.over_seeds.rm.pseudo.5.skill.se:.2f} | {rlaif.over_seeds.rm.ai.5.skill.mean:.2f} ± {rlaif.over_seeds.rm.ai.5.skill.se:.2f} | {rlaif.over_seeds.rm.human.5.spearman.mean:.2f} / {rlaif.over_seeds.rm.pseudo.5.spearman.mean:.2f} / {rlaif.over_seeds.rm.ai.5.spearman.mean:.2f} |',
    '| 10% | {rlaif.over_seeds.rm.human.10.human_labels.mean:,.0f} | {rlaif.over_seeds.rm.human.10.skill.mean:.2f} ± {rlaif.over_seeds.rm.human.10.skill.se:.2f} | {rlaif.over_seeds.rm.pseudo.10.skill.mean:.2f} ± {rlaif.over_seeds.rm.pseudo.10.skill.se:.2f} | {rlaif.over_seeds.rm.ai.10.skill.mean:.2f} ± {rlaif.over_seeds.rm.ai.10.skill.se:.2f} | {rlaif.over_seeds.rm.human.10.spearman.mean:.2f} / {rlaif.over_seeds.rm.pseudo.10.spearman.mean:.2f} / {rlaif.over_seeds.rm.ai.10.spearman.mean:.2f} |',
    '| 25% | {rlaif.over_seeds.rm.human.25.human_labels.mean:,.0f} | {rlaif.over_seeds.rm.human.25.skill.mean:.2f} ± {rlaif.over_seeds.rm.human.25.skill.se:.2f} | {rlaif.over_seeds.rm.pseudo.25.skill.mean:.2f} ± {rlaif.over_seeds.rm.pseudo.25.skill.se:.2f} | {rlaif.over_seeds.rm.ai.25.skill.mean:.2f} ± {rlaif.over_seeds.rm.ai.25.skill.se:.2f} | {rlaif.over_seeds.rm.human.25.spearman.mean:.2f} / {rlaif.over_seeds.rm.pseudo.25.spearman.mean:.2f} / {rlaif.over_seeds.rm.ai.25.spearman.mean:.2f} |',
    '| 100% | {rlaif.over_seeds.rm.human.100.human_labels.mean:,.0f} | {rlaif.over_seeds.rm.human.100.skill.mean:.2f} ± {rlaif.over_seeds.rm.human.100.skill.se:.2f} | — | — | {rlaif.over_seeds.rm.human.100.spearman.mean:.2f} |',
    '| 0% (the judge labels every pair) | 0 | — | — | {rlaif.over_seeds.rm.ai_only.skill.mean:.2f} ± {rlaif.over_seeds.rm.ai_only.skill.se:.2f} | {rlaif.over_seeds.rm.ai_only.spearman.mean:.2f} |',
]
SOURCES = {   # name: (summary file, the split its numbers are on)
    "sft": ("lessons/results/sft.json", "test"), "rm": ("lessons/results/rm.json", "test"),
    "ppo": ("lessons/results/ppo.json", "test"), "ppo1": ("lessons/results/ppo_seed1.json", "test"),
    "ppo2": ("lessons/results/ppo_seed2.json", "test"), "dpo": ("lessons/results/dpo.json", "test"),
    "bon": ("lessons/results/bon.json", "test"), "rm1": ("lessons/results/rm_seed1.json", "test"),
    "rm2": ("lessons/results/rm_seed2.json", "test"),
    "frontier": ("lessons/experiments/frontier.json", "test"),
    "frontier_dev": ("lessons/experiments/frontier_dev.json", "dev"),   # the beta grids: a choice, so dev
    "overopt": ("lessons/experiments/overoptimisation.json", "test"),
    "hack": ("lessons/results/ppo_beta0_lr3e-4.json", "test"),
    "beta0": ("lessons/results/ppo_beta0.json", "test"),
    "sft_nf": ("lessons/results/sft_no_fact_checks.json", "test"),
    "sft1": ("lessons/results/sft_seed1.json", "test"), "sft2": ("lessons/results/sft_seed2.json", "test"),   # the chain without fact checks (lessons 3, 4)
    **{f"rm_nf{i}": (f"lessons/results/rm_no_fact_checks_seed{i}.json", "test") for i in range(3)},
    **{f"abl_{n}": (f"lessons/results/ablations/{n}.json", "dev")   # lesson 5's ablations: choices, so dev
       for n in ("default20", "no_whiten", "critic_sft", "critic_scratch", "k3", "target1", "t07", "t07_noscale")},
    **{f"it_{n.replace('-', '_')}": (f"lessons/results/iterations_dev/{n}.json", "dev")   # --iterations: a choice
       for n in ("it40_seed0", "it60_seed0", "it40_seed1", "it60_seed1", "it40_lr6e-5", "it40_lr1e-4")},
    # lesson 9: the critic-free trainer's choices (dev) and its test-split runs, tabulated by critic_free.py
    **{"gd_" + p.stem.replace("-", "_").replace(".", "_"): (f"lessons/results/grpo_dev/{p.name}", "dev")
       for p in sorted((ROOT / "lessons/results/grpo_dev").glob("*.json"))},
    "cf": ("lessons/results/critic_free.json", "test"),
    "cur": ("lessons/experiments/curriculum.json", "test"),   # lesson 6's curriculum, three seeds
    "ens": ("lessons/experiments/ensembles.json", "test"),    # lesson 6's RM ensembles, three seeds
    "iter": ("lessons/experiments/iterated_rlhf.json", "test"),   # lesson 6's iterated RLHF, three seeds
    "dense": ("lessons/experiments/dense_reward.json", "test"),   # lesson 5's dense rewards, three seeds
    "rlaif": ("lessons/experiments/rlaif.json", "test"),   # lesson 8's AI feedback and semi-supervised labels
    "sftp": ("lessons/results/sft_principles.json", "test"),   # SFT with the judge's principle checks (lesson 8)
    # lesson 8's choice (dev): SFT with (fact, principle) checks and its human-label RM, seeds 0-2
    **{f"fc{f}pc{n}s{s}{stage}": (f"lessons/results/principle_checks_dev/fc{f}_pc{n}_seed{s}_{stage}.json", "dev")
       for f, n in CHECKS for s in range(3) for stage in ("sft", "rm")},
    # lesson 8's judge of its own: chosen on dev (judge_dev.sh), then the default chain on test (judge_chain.sh)
    "jd_judge": ("lessons/results/judge_dev/judge_sft.json", "dev"),
    "jd_own": ("lessons/results/judge_dev/judge_of_its_own_rm.json", "dev"),
    "jd_self": ("lessons/results/judge_dev/self_judging_rm.json", "dev"),
    "jc_sft": ("lessons/results/judge_chain/sft.json", "test"),
    "jc_judge_sft": ("lessons/results/judge_chain/judge_sft.json", "test"),
    **{f"jc_{n}{s or ''}": (f"lessons/results/judge_chain/{n}_seed{s}.json", "test")   # jc_rm is seed 0's
       for n in ("rm", "ppo", "human_rm", "human_ppo") for s in range(3)},
    "cf_default": ("lessons/results/critic_free/default.json", "test"),
    "vb": ("lessons/results/critic_free/verifier_beta0.json", "test"),   # lesson 9's experiment 4
}
FIELD = re.compile(r"\{(\w+)\.([\w.-]+):([^}]*)\}")

LESSON_9 = [   # the tables of lessons/09-critic-free.md, row by row (lessons/results/critic_free.py prints them)
    'Run for 120 iterations with no leash (`--reward verifier --beta 0 --iterations 120`, test, seed 0), it still did not hack the checker in this world: pass@1 {cf.verifier.verifier_beta0.pass1_sft:.2f} → {cf.verifier.verifier_beta0.pass1:.2f}, gold on the sums {vb.pass_sft.gold:+.2f} → {vb.pass_grpo.gold:+.2f}, `harmless` on them {vb.pass_sft.gold_components.harmless:+.2f} → {vb.pass_grpo.gold_components.harmless:+.2f}, at KL {vb.kl:.2f}',
        '| PPO (`train_ppo.py`) | 0.1 | {cf.ppo.0.gold:+.2f} ± {cf.ppo.0.gold_se:.2f} | {cf.ppo.0.kl:.2f} | {cf.ppo.0.win_rate:.3f} ± {cf.ppo.0.win_rate_se:.3f} | — | {cf.ppo.0.wall_seconds:.0f} |',
        '| `drgrpo` (the default) | 0.1 | {cf.methods.drgrpo.gold:+.2f} ± {cf.methods.drgrpo.gold_se:.2f} | {cf.methods.drgrpo.kl:.2f} | {cf.methods.drgrpo.win_rate:.3f} ± {cf.methods.drgrpo.win_rate_se:.3f} | {cf.methods.drgrpo.vs_ppo.diff:+.2f} ± {cf.methods.drgrpo.vs_ppo.se:.2f} | {cf.methods.drgrpo.wall_seconds:.0f} |',
        '| `grpo` | 0.1 | {cf.methods.grpo.gold:+.2f} ± {cf.methods.grpo.gold_se:.2f} | {cf.methods.grpo.kl:.2f} | {cf.methods.grpo.win_rate:.3f} ± {cf.methods.grpo.win_rate_se:.3f} | {cf.methods.grpo.vs_ppo.diff:+.2f} ± {cf.methods.grpo.vs_ppo.se:.2f} | {cf.methods.grpo.wall_seconds:.0f} |',
        '| `rloo` | 0.1 | {cf.methods.rloo.gold:+.2f} ± {cf.methods.rloo.gold_se:.2f} | {cf.methods.rloo.kl:.2f} | {cf.methods.rloo.win_rate:.3f} ± {cf.methods.rloo.win_rate_se:.3f} | {cf.methods.rloo.vs_ppo.diff:+.2f} ± {cf.methods.rloo.vs_ppo.se:.2f} | {cf.methods.rloo.wall_seconds:.0f} |',
        '| `reinforce` | 0.1 | {cf.methods.reinforce.gold:+.2f} ± {cf.methods.reinforce.gold_se:.2f} | {cf.methods.reinforce.kl:.2f} | {cf.methods.reinforce.win_rate:.3f} ± {cf.methods.reinforce.win_rate_se:.3f} | {cf.methods.reinforce.vs_ppo.diff:+.2f} ± {cf.methods.reinforce.vs_ppo.se:.2f} | {cf.methods.reinforce.wall_seconds:.0f} |',
        '| `grpo`, k3 in the loss (GRPO as published) | 0.05 | {cf.methods.grpo_published.gold:+.2f} ± {cf.methods.grpo_published.gold_se:.2f} | {cf.methods.grpo_published.kl:.2f} | {cf.methods.grpo_published.win_rate:.3f} ± {cf.methods.grpo_published.win_rate_se:.3f} | {cf.methods.grpo_published.vs_ppo.diff:+.2f} ± {cf.methods.grpo_published.vs_ppo.se:.2f} | {cf.methods.grpo_published.wall_seconds:.0f} |',
        '| 0 | {cf.ppo.0.gold:+.2f} ± {cf.ppo.0.gold_se:.2f} | {cf.ppo.0.kl:.2f} | {cf.seeds.0.gold:+.2f} ± {cf.seeds.0.gold_se:.2f} | {cf.seeds.0.kl:.2f} | {cf.seeds.0.vs_ppo.diff:+.2f} ± {cf.seeds.0.vs_ppo.se:.2f} | {cf.ppo.0.wall_seconds:.0f} / {cf.seeds.0.wall_seconds:.0f} |',
        '| 1 | {cf.ppo.1.gold:+.2f} ± {cf.ppo.1.gold_se:.2f} | {cf.ppo.1.kl:.2f} | {cf.seeds.1.gold:+.2f} ± {cf.seeds.1.gold_se:.2f} | {cf.seeds.1.kl:.2f} | {cf.seeds.1.vs_ppo.diff:+.2f} ± {cf.seeds.1.vs_ppo.se:.2f} | {cf.ppo.1.wall_seconds:.0f} / {cf.seeds.1.wall_seconds:.0f} |',
        '| 2 | {cf.ppo.2.gold:+.2f} ± {cf.ppo.2.gold_se:.2f} | {cf.ppo.2.kl:.2f} | {cf.seeds.2.gold:+.2f} ± {cf.seeds.2.gold_se:.2f} | {cf.seeds.2.kl:.2f} | {cf.seeds.2.vs_ppo.diff:+.2f} ± {cf.seeds.2.vs_ppo.se:.2f} | {cf.ppo.2.wall_seconds:.0f} / {cf.seeds.2.wall_seconds:.0f} |',
        "over the three seeds the critic-free default reaches {cf.over_seeds.grpo.mean:+.2f} ± {cf.over_seeds.grpo.se:.2f} at KL {cf.over_seeds.kl_grpo.mean:.2f} against PPO's {cf.over_seeds.ppo.mean:+.2f} ± {cf.over_seeds.ppo.se:.2f} at KL {cf.over_seeds.kl_ppo.mean:.2f} (mean ± SE over seeds, n = 3), in {cf.over_seeds.wall_grpo.mean:.0f} s against {cf.over_seeds.wall_ppo.mean:.0f} s of wall time",
        '{cf.over_seeds.claim.text:}',
        '| GRPO as published: `grpo`, k3 in the loss, β 0.05 | {gd_default.gold_reward_grpo:+.2f} / {gd_default_seed1.gold_reward_grpo:+.2f} | {gd_default.kl:.2f} / {gd_default_seed1.kl:.2f} |',
        '| `drgrpo`, k3 in the loss, β 0.05 | {gd_drgrpo.gold_reward_grpo:+.2f} / {gd_drgrpo_seed1.gold_reward_grpo:+.2f} | {gd_drgrpo.kl:.2f} / {gd_drgrpo_seed1.kl:.2f} |',
        '| `drgrpo`, k3 in the loss, β 0.04 | {gd_drgrpo_b0_04.gold_reward_grpo:+.2f} / {gd_drgrpo_b0_04_seed1.gold_reward_grpo:+.2f} | {gd_drgrpo_b0_04.kl:.2f} / {gd_drgrpo_b0_04_seed1.kl:.2f} |',
        '| `grpo`, KL in the reward, β 0.1 | {gd_klreward_b0_1.gold_reward_grpo:+.2f} / {gd_klreward_b0_1_seed1.gold_reward_grpo:+.2f} | {gd_klreward_b0_1.kl:.2f} / {gd_klreward_b0_1_seed1.kl:.2f} |',
        '| **`drgrpo`, KL in the reward, β 0.1: the default** | {gd_drgrpo_klreward_b0_1.gold_reward_grpo:+.2f} / {gd_drgrpo_klreward_b0_1_seed1.gold_reward_grpo:+.2f} | {gd_drgrpo_klreward_b0_1.kl:.2f} / {gd_drgrpo_klreward_b0_1_seed1.kl:.2f} |',
        '| `drgrpo`, KL in the reward, β 0.08 | {gd_drgrpo_klreward_b0_08.gold_reward_grpo:+.2f} / {gd_drgrpo_klreward_b0_08_seed1.gold_reward_grpo:+.2f} | {gd_drgrpo_klreward_b0_08.kl:.2f} / {gd_drgrpo_klreward_b0_08_seed1.kl:.2f} |',
        '| `drgrpo`, KL in the reward, β 0.03 | {gd_drgrpo_klreward_b0_03.gold_reward_grpo:+.2f} / {gd_drgrpo_klreward_b0_03_seed1.gold_reward_grpo:+.2f} | {gd_drgrpo_klreward_b0_03.kl:.2f} / {gd_drgrpo_klreward_b0_03_seed1.kl:.2f} |',
        '| `drgrpo`, KL in the reward, β 0.1, lr 4e-5 | {gd_drgrpo_klreward_lr4e_5.gold_reward_grpo:+.2f} / {gd_drgrpo_klreward_lr4e_5_seed1.gold_reward_grpo:+.2f} | {gd_drgrpo_klreward_lr4e_5.kl:.2f} / {gd_drgrpo_klreward_lr4e_5_seed1.kl:.2f} |',
        '| `rloo`, k3 in the loss, β 0.05 | {gd_rloo.gold_reward_grpo:+.2f} | {gd_rloo.kl:.2f} | {gd_rloo.response_length_grpo:.1f} |',
        '| `reinforce`, k3 in the loss, β 0.05 | {gd_reinforce.gold_reward_grpo:+.2f} | {gd_reinforce.kl:.2f} | {gd_reinforce.response_length_grpo:.1f} |',
        '| `rloo`, KL in the reward, β 0.1 | {gd_rloo_klreward_b0_1.gold_reward_grpo:+.2f} | {gd_rloo_klreward_b0_1.kl:.2f} | {gd_rloo_klreward_b0_1.response_length_grpo:.1f} |',
        '| `reinforce`, KL in the reward, β 0.1 | {gd_reinforce_klreward_b0_1.gold_reward_grpo:+.2f} | {gd_reinforce_klreward_b0_1.kl:.2f} | {gd_reinforce_klreward_b0_1.response_length_grpo:.1f} |',
        '| GRPO as published, G = 4 × 16 prompts | {gd_g4.gold_reward_grpo:+.2f} | {gd_g4.kl:.2f} | {gd_g4.response_length_grpo:.1f} |',
        '| GRPO as published, `--loss-agg token-mean` | {gd_token_mean.gold_reward_grpo:+.2f} | {gd_token_mean.kl:.2f} | {gd_token_mean.response_length_grpo:.1f} |',
        '| GRPO as published, `--loss-agg constant` | {gd_constant.gold_reward_grpo:+.2f} | {gd_constant.kl:.2f} | {gd_constant.response_length_grpo:.1f} |',
        '| GRPO as published, β 0.1, lr 6e-5 | {gd_lr6e_5_b0_1.gold_reward_grpo:+.2f} | {gd_lr6e_5_b0_1.kl:.2f} | {gd_lr6e_5_b0_1.response_length_grpo:.1f} |',
        '| `seq-mean` | {cf.aggregations.seq-mean.length:.1f} | {cf.aggregations.seq-mean.gold:+.2f} ± {cf.aggregations.seq-mean.gold_se:.2f} | {cf.aggregations.seq-mean.kl:.2f} | {cf.aggregations.seq-mean.components.honest:+.2f} | {cf.aggregations.seq-mean.components.harmless:+.2f} | {cf.aggregations.seq-mean.components.helpful:+.2f} | {cf.aggregations.seq-mean.components.concise:+.2f} |',
        '| `token-mean` | {cf.aggregations.token-mean.length:.1f} | {cf.aggregations.token-mean.gold:+.2f} ± {cf.aggregations.token-mean.gold_se:.2f} | {cf.aggregations.token-mean.kl:.2f} | {cf.aggregations.token-mean.components.honest:+.2f} | {cf.aggregations.token-mean.components.harmless:+.2f} | {cf.aggregations.token-mean.components.helpful:+.2f} | {cf.aggregations.token-mean.components.concise:+.2f} |',
        '| `constant` | {cf.aggregations.constant.length:.1f} | {cf.aggregations.constant.gold:+.2f} ± {cf.aggregations.constant.gold_se:.2f} | {cf.aggregations.constant.kl:.2f} | {cf.aggregations.constant.components.honest:+.2f} | {cf.aggregations.constant.components.harmless:+.2f} | {cf.aggregations.constant.components.helpful:+.2f} | {cf.aggregations.constant.components.concise:+.2f} |',
        '`rloo` − `drgrpo` on test, seed 0, paired by prompt: {cf.identity.rloo_minus_drgrpo.diff:+.2f} ± {cf.identity.rloo_minus_drgrpo.se:.2f}',
        '| `rm` (the default) | {cf.verifier.rm.pass1_sft:.2f} → {cf.verifier.rm.pass1:.2f} ± {cf.verifier.rm.pass1_se:.2f} | {cf.verifier.rm.pass8_sft:.2f} → {cf.verifier.rm.pass8:.2f} | {cf.verifier.rm.sums_gold_sft:+.2f} → {cf.verifier.rm.sums_gold:+.2f} | {cf.verifier.rm.sums_components_sft.honest:+.2f} → {cf.verifier.rm.sums_components.honest:+.2f} | {cf.verifier.rm.sums_components_sft.harmless:+.2f} → {cf.verifier.rm.sums_components.harmless:+.2f} | {cf.verifier.rm.sums_components_sft.concise:+.2f} → {cf.verifier.rm.sums_components.concise:+.2f} | {cf.verifier.rm.gold:+.2f} ± {cf.verifier.rm.gold_se:.2f} |',
        '| `verifier` | {cf.verifier.verifier.pass1_sft:.2f} → {cf.verifier.verifier.pass1:.2f} ± {cf.verifier.verifier.pass1_se:.2f} | {cf.verifier.verifier.pass8_sft:.2f} → {cf.verifier.verifier.pass8:.2f} | {cf.verifier.verifier.sums_gold_sft:+.2f} → {cf.verifier.verifier.sums_gold:+.2f} | {cf.verifier.verifier.sums_components_sft.honest:+.2f} → {cf.verifier.verifier.sums_components.honest:+.2f} | {cf.verifier.verifier.sums_components_sft.harmless:+.2f} → {cf.verifier.verifier.sums_components.harmless:+.2f} | {cf.verifier.verifier.sums_components_sft.concise:+.2f} → {cf.verifier.verifier.sums_components.concise:+.2f} | {cf.verifier.verifier.gold:+.2f} ± {cf.verifier.verifier.gold_se:.2f} |',
        '| `rm+verifier` | {cf.verifier.rm_verifier.pass1_sft:.2f} → {cf.verifier.rm_verifier.pass1:.2f} ± {cf.verifier.rm_verifier.pass1_se:.2f} | {cf.verifier.rm_verifier.pass8_sft:.2f} → {cf.verifier.rm_verifier.pass8:.2f} | {cf.verifier.rm_verifier.sums_gold_sft:+.2f} → {cf.verifier.rm_verifier.sums_gold:+.2f} | {cf.verifier.rm_verifier.sums_components_sft.honest:+.2f} → {cf.verifier.rm_verifier.sums_components.honest:+.2f} | {cf.verifier.rm_verifier.sums_components_sft.harmless:+.2f} → {cf.verifier.rm_verifier.sums_components.harmless:+.2f} | {cf.verifier.rm_verifier.sums_components_sft.concise:+.2f} → {cf.verifier.rm_verifier.sums_components.concise:+.2f} | {cf.verifier.rm_verifier.gold:+.2f} ± {cf.verifier.rm_verifier.gold_se:.2f} |',
        'gold {cf.on_policy.gold:+.2f} ± {cf.on_policy.gold_se:.2f} at KL {cf.on_policy.kl:.2f}, in {cf.on_policy.wall_seconds:.0f} s',
]

LESSON_8_RLAIF = [   # lessons/08-future.md's RLAIF and costly-data tables (lessons/experiments/rlaif.py prints them)
        "The fine-tune's settings are the first ones tried, on dev (seed 0, `bash lessons/results/judge_dev.sh`): judging the untouched model's held-out pairs it agrees with the gold order {jd_own.ai_labels.vs_gold:.3f} ± {jd_own.ai_labels.vs_gold_se:.3f}, against {jd_self.ai_labels.vs_gold:.3f} ± {jd_self.ai_labels.vs_gold_se:.3f} for the SFT model trained with the checks judging its own samples.",
        "whose CPU gave another default SFT model, gold {jc_sft.gold_reward:+.2f} ± {jc_sft.gold_reward_se:.2f} against lesson 3's {sft.gold_reward:+.2f}: another CPU model rounds some kernels differently), the fine-tune takes {jc_judge_sft.wall_seconds:.0f} s; the judge agrees with the gold order {jc_rm.ai_labels.vs_gold:.3f} ± {jc_rm.ai_labels.vs_gold_se:.3f} and with the human {jc_rm.ai_labels.vs_human:.3f} ± {jc_rm.ai_labels.vs_human_se:.3f}; the RM on its labels scores skill {jc_rm.skill_vs_ceiling:.2f} ± {jc_rm.skill_se:.2f} ({jc_rm.wall_seconds:.0f} s), against {jc_human_rm.skill_vs_ceiling:.2f} ± {jc_human_rm.skill_se:.2f} on the human's labels; and PPO on it reaches gold {jc_ppo.gold_reward_ppo:+.2f} ± {jc_ppo.gold_reward_ppo_se:.2f} ({jc_ppo.gold_gain_fraction:.0%} of the SFT-to-best gap, at KL {jc_ppo.kl:.2f}, in {jc_ppo.wall_seconds:.0f} s), against {jc_human_ppo.gold_reward_ppo:+.2f} ± {jc_human_ppo.gold_reward_ppo_se:.2f} ({jc_human_ppo.gold_gain_fraction:.0%}, KL {jc_human_ppo.kl:.2f}) on the human's labels from the same SFT model.",
        "Seed 0's all-AI PPO of the chain trained with the checks from the start reached {rlaif.ppo.ai_only.0.gold:+.2f} ({rlaif.ppo.ai_only.0.gain_fraction:.0%} of its gap, below), from a weaker SFT model;",
        "On the test split the chain with 2,560 checks (the one measured below) also misses a bar, the RM's: skill {rlaif.rm.human.100.0.skill:.3f}, {rlaif.rm.human.100.1.skill:.3f} and {rlaif.rm.human.100.2.skill:.3f} at seeds 0, 1 and 2 against {rm.skill_vs_ceiling:.3f}, {rm1.skill_vs_ceiling:.3f} and {rm2.skill_vs_ceiling:.3f} without them (lesson 4), so seed 0 misses 0.75, while PPO's bar holds (it closes {rlaif.ppo.human_100.0.gain_fraction:.0%}, {rlaif.ppo.human_100.1.gain_fraction:.0%} and {rlaif.ppo.human_100.2.gain_fraction:.0%} of the gap); and the same 1,400 SFT steps take {sftp.wall_seconds:.0f} s instead of {sft.wall_seconds:.0f} s (their examples are longer), which would put the three plain commands past five minutes.",
        '| the simulated human (Bradley–Terry noise, τ = 0.75) | — | {rlaif.judge.human_vs_gold:.3f} ± {rlaif.judge.human_vs_gold_se:.3f} |',
        '| the judge, equal weights (no human label) | {rlaif.judge.equal.vs_human:.3f} ± {rlaif.judge.equal.vs_human_se:.3f} | {rlaif.judge.equal.vs_gold:.3f} ± {rlaif.judge.equal.vs_gold_se:.3f} | {rlaif.judge.equal.by_kind.colour.vs_gold:.2f} / {rlaif.judge.equal.by_kind.sound.vs_gold:.2f} / {rlaif.judge.equal.by_kind.sum.vs_gold:.2f} |',
        '| the judge, weights fitted on {rlaif.judge.n_fit_pairs:} human-labelled pairs | {rlaif.judge.fitted.vs_human:.3f} ± {rlaif.judge.fitted.vs_human_se:.3f} | {rlaif.judge.fitted.vs_gold:.3f} ± {rlaif.judge.fitted.vs_gold_se:.3f} | {rlaif.judge.fitted.by_kind.colour.vs_gold:.2f} / {rlaif.judge.fitted.by_kind.sound.vs_gold:.2f} / {rlaif.judge.fitted.by_kind.sum.vs_gold:.2f} |',
        '| an insult added ("Are you dumb?") | yes | {rlaif.probes.insult.prefers_clean:.2f} ± {rlaif.probes.insult.se:.2f} |',
        '| the same insult misspelt ("Are you dumm?", "You are a m0ron.") | never | {rlaif.probes.misspelt_insult.prefers_clean:.2f} ± {rlaif.probes.misspelt_insult.se:.2f} |',
        '| a filler added ("Let me see.") | yes | {rlaif.probes.filler.prefers_clean:.2f} ± {rlaif.probes.filler.se:.2f} |',
        '| a wrong answer instead of the right one | yes | {rlaif.probes.wrong_answer.prefers_clean:.2f} ± {rlaif.probes.wrong_answer.se:.2f} |',
        '| a garbled sentence added ("is yellow The banana.") | never | {rlaif.probes.garbled.prefers_clean:.2f} ± {rlaif.probes.garbled.se:.2f} |',
        '| the closer dropped | yes | {rlaif.probes.no_closer.prefers_clean:.2f} ± {rlaif.probes.no_closer.se:.2f} |',
        *RLAIF_RM_TABLE,
        '| the simulated human, every pair | {rlaif.over_seeds.ppo.human_100.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.human_100.gold.se:.2f} | {rlaif.over_seeds.ppo.human_100.gain_fraction.mean:.0%} | {rlaif.over_seeds.ppo.human_100.kl.mean:.2f} | {rlaif.over_seeds.ppo.human_100.win_rate.mean:.2f} | {rlaif.over_seeds.ppo.human_100.components.honest:+.2f} | {rlaif.over_seeds.ppo.human_100.components.harmless:+.2f} | {rlaif.over_seeds.ppo.human_100.components.helpful:+.2f} | {rlaif.over_seeds.ppo.human_100.components.concise:+.2f} |',
        '| the judge, every pair (no human label) | {rlaif.over_seeds.ppo.ai_only.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.ai_only.gold.se:.2f} | {rlaif.over_seeds.ppo.ai_only.gain_fraction.mean:.0%} | {rlaif.over_seeds.ppo.ai_only.kl.mean:.2f} | {rlaif.over_seeds.ppo.ai_only.win_rate.mean:.2f} | {rlaif.over_seeds.ppo.ai_only.components.honest:+.2f} | {rlaif.over_seeds.ppo.ai_only.components.harmless:+.2f} | {rlaif.over_seeds.ppo.ai_only.components.helpful:+.2f} | {rlaif.over_seeds.ppo.ai_only.components.concise:+.2f} |',
        '| the human on 10% of the prompts | {rlaif.over_seeds.ppo.human_10.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.human_10.gold.se:.2f} | {rlaif.over_seeds.ppo.human_10.gain_fraction.mean:.0%} | {rlaif.over_seeds.ppo.human_10.kl.mean:.2f} | {rlaif.over_seeds.ppo.human_10.win_rate.mean:.2f} | {rlaif.over_seeds.ppo.human_10.components.honest:+.2f} | {rlaif.over_seeds.ppo.human_10.components.harmless:+.2f} | {rlaif.over_seeds.ppo.human_10.components.helpful:+.2f} | {rlaif.over_seeds.ppo.human_10.components.concise:+.2f} |',
        '| the human on 10%, pseudo-labels on the rest | {rlaif.over_seeds.ppo.pseudo_10.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.pseudo_10.gold.se:.2f} | {rlaif.over_seeds.ppo.pseudo_10.gain_fraction.mean:.0%} | {rlaif.over_seeds.ppo.pseudo_10.kl.mean:.2f} | {rlaif.over_seeds.ppo.pseudo_10.win_rate.mean:.2f} | {rlaif.over_seeds.ppo.pseudo_10.components.honest:+.2f} | {rlaif.over_seeds.ppo.pseudo_10.components.harmless:+.2f} | {rlaif.over_seeds.ppo.pseudo_10.components.helpful:+.2f} | {rlaif.over_seeds.ppo.pseudo_10.components.concise:+.2f} |',
        '| the human on 10%, the judge on the rest | {rlaif.over_seeds.ppo.ai_10.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.ai_10.gold.se:.2f} | {rlaif.over_seeds.ppo.ai_10.gain_fraction.mean:.0%} | {rlaif.over_seeds.ppo.ai_10.kl.mean:.2f} | {rlaif.over_seeds.ppo.ai_10.win_rate.mean:.2f} | {rlaif.over_seeds.ppo.ai_10.components.honest:+.2f} | {rlaif.over_seeds.ppo.ai_10.components.harmless:+.2f} | {rlaif.over_seeds.ppo.ai_10.components.helpful:+.2f} | {rlaif.over_seeds.ppo.ai_10.components.concise:+.2f} |',
        'On pairs whose gold differs in one component alone, the judge picks the side that component prefers for honest {rlaif.judge.equal.by_component.honest.vs_gold:.2f} ± {rlaif.judge.equal.by_component.honest.vs_gold_se:.2f} (n = {rlaif.judge.equal.by_component.honest.n:}), harmless {rlaif.judge.equal.by_component.harmless.vs_gold:.2f} ± {rlaif.judge.equal.by_component.harmless.vs_gold_se:.2f} (n = {rlaif.judge.equal.by_component.harmless.n:}), helpful {rlaif.judge.equal.by_component.helpful.vs_gold:.2f} ± {rlaif.judge.equal.by_component.helpful.vs_gold_se:.2f} (n = {rlaif.judge.equal.by_component.helpful.n:}) and concise {rlaif.judge.equal.by_component.concise.vs_gold:.2f} ± {rlaif.judge.equal.by_component.concise.vs_gold_se:.2f} (n = {rlaif.judge.equal.by_component.concise.n:})',
        '{rlaif.claims.ppo.ai_only_vs_human_100.text:}',
        '{rlaif.claims.ppo.ai_10_vs_human_10.text:}',
        '{rlaif.claims.ppo.pseudo_10_vs_human_10.text:}',
        '{rlaif.claims.ppo.human_10_vs_human_100.text:}',
        '{rlaif.claims.rm.pseudo.5.text:}',
        '{rlaif.claims.rm.pseudo.10.text:}',
        '{rlaif.claims.rm.pseudo.25.text:}',
        '{rlaif.claims.rm.ai.5.text:}',
        '{rlaif.claims.rm.ai.10.text:}',
        '{rlaif.claims.rm.ai.25.text:}',
        "| (SFT, the start; seed 0's samples) | {rlaif.ppo.human_100.0.sft_gold:+.2f} | | | | {rlaif.ppo.human_100.0.sft_components.honest:+.2f} | {rlaif.ppo.human_100.0.sft_components.harmless:+.2f} | {rlaif.ppo.human_100.0.sft_components.helpful:+.2f} | {rlaif.ppo.human_100.0.sft_components.concise:+.2f} |",
        "The threshold was chosen on the dev split at F = 10%, by the student RM's dev skill ({rlaif.threshold_dev_skill.60:.3f} at 0.6, {rlaif.threshold_dev_skill.75:.3f} at 0.75, {rlaif.threshold_dev_skill.90:.3f} at 0.9): t = {rlaif.threshold:g}.",
        "its confident labels agree with the gold order {rlaif.pseudo.10.0.pseudo_vs_gold:.2f} of the time (seed 0, F = 10%), against the human's {rlaif.judge.human_vs_gold:.2f}.",
        "the all-AI RM's {rlaif.over_seeds.rm.ai_only.skill.mean:.2f}",
        'in `honest`, the component it checks worst ({rlaif.over_seeds.ppo.ai_only.components.honest:+.2f} against {rlaif.over_seeds.ppo.human_100.components.honest:+.2f})',
        'An AI labeler is {rlaif.label_seconds_per_1000.ai.0:.1f} s per 1,000 pairs on this CPU against {rlaif.label_seconds_per_1000.human:.2f} s for the simulated human',
        'On the {rlaif.judge.equal.n:} held-out pairs the RM is scored on',
        'Fitting the weights on {rlaif.judge.n_fit_pairs:} human-labelled pairs',
        "The judge's labels are enough for PPO to clear the project's bar for them ({rlaif.over_seeds.ppo.ai_only.gain_fraction.mean:.0%} of the SFT-to-best gap",
        '| Costly data | synthetic data (AI feedback) + semi-supervised RL | a simulated labeler; pairs sampled from the model itself (lesson 4); the SFT model as a judge by a constitution (`train_rm.py --labeler ai`), pseudo-labels and AI labels at four label budgets, measured (above): {rlaif.claims.ppo.ai_only_vs_human_100.text:} | RLAIF with a judge far larger than the policy (Bai et al. 2022; Lee et al. 2023) |',
]

CLAIMS = {
    "lessons/08-future.md": LESSON_8_RLAIF,
    "lessons/09-critic-free.md": LESSON_9 + [
        "against the terminal score: {dense.claims.grpo.40.text:} at iteration 40, over three seeds, a weak bar it explains.",
    ],
    "README.md": [
        *RLAIF_RM_TABLE,
        "A judge of its own keeps the default chain: `python train_sft.py --init out/sft.pt --principle-checks 2560 --max-steps 400 --warmup-steps 20 --lr 1e-3 --out-dir out/judge` ({jc_judge_sft.wall_seconds:.0f} s), then `python train_rm.py --labeler ai --judge out/judge/sft.pt` and `python train_ppo.py`: PPO on the judge's labels reaches gold {jc_ppo.gold_reward_ppo:+.2f} ± {jc_ppo.gold_reward_ppo_se:.2f} ({jc_ppo.gold_gain_fraction:.0%} of the SFT-to-best gap, seed 0) against {jc_human_ppo.gold_reward_ppo:+.2f} ± {jc_human_ppo.gold_reward_ppo_se:.2f} on the human's labels from the same SFT model;",
        "**AI feedback** (`python train_sft.py --principle-checks 2560 --out-dir out_ai`, then `python train_rm.py --labeler ai --out-dir out_ai` and `python train_ppo.py --out-dir out_ai`; lesson 8): the SFT model, taught yes/no checks of whole replies whose answers come from the corpus generator's own choices (never from gold), labels its own samples by a written constitution (is it right, honest, an answer, polite, kind, short?), at {rlaif.label_seconds_per_1000.ai.0:.1f} s per 1,000 pairs; the three scripts take {sftp.wall_seconds:.0f} s, {rlaif.rm_ai_only.0.wall_seconds:.0f} s and {rlaif.ppo.ai_only.0.wall_seconds:.0f} s (seed 0), against 117 s, 67 s and 94 s on human labels (the table above). On the held-out test pairs it agrees with the gold order {rlaif.judge.equal.vs_gold:.3f} ± {rlaif.judge.equal.vs_gold_se:.3f} of the time, against the simulated human's {rlaif.judge.human_vs_gold:.3f} ± {rlaif.judge.human_vs_gold_se:.3f}; it reads insults and closers well and facts poorly (on pairs that differ in one gold component alone: harmless {rlaif.judge.equal.by_component.harmless.vs_gold:.2f}, helpful {rlaif.judge.equal.by_component.helpful.vs_gold:.2f}, honest {rlaif.judge.equal.by_component.honest.vs_gold:.2f}). PPO on its RM reaches gold {rlaif.over_seeds.ppo.ai_only.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.ai_only.gold.se:.2f} over 3 seeds ({rlaif.over_seeds.ppo.ai_only.gain_fraction.mean:.0%} of the SFT-to-best gap) at KL {rlaif.over_seeds.ppo.ai_only.kl.mean:.2f}, against {rlaif.over_seeds.ppo.human_100.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.human_100.gold.se:.2f} ({rlaif.over_seeds.ppo.human_100.gain_fraction.mean:.0%}) at KL {rlaif.over_seeds.ppo.human_100.kl.mean:.2f} on the same chain's human labels: {rlaif.claims.ppo.ai_only_vs_human_100.text:}; what it gains least is `honest` ({rlaif.over_seeds.ppo.ai_only.components.honest:+.2f} against {rlaif.over_seeds.ppo.human_100.components.honest:+.2f}). With the human's labels on 10% of the prompts, RM skill is {rlaif.over_seeds.rm.human.10.skill.mean:.2f} ± {rlaif.over_seeds.rm.human.10.skill.se:.2f}, {rlaif.over_seeds.rm.pseudo.10.skill.mean:.2f} ± {rlaif.over_seeds.rm.pseudo.10.skill.se:.2f} with pseudo-labels from that RM on the rest, {rlaif.over_seeds.rm.ai.10.skill.mean:.2f} ± {rlaif.over_seeds.rm.ai.10.skill.se:.2f} with the judge's labels on the rest (all of them: {rlaif.over_seeds.rm.human.100.skill.mean:.2f} ± {rlaif.over_seeds.rm.human.100.skill.se:.2f}); PPO's gold on them: {rlaif.claims.ppo.ai_10_vs_human_10.text:}, {rlaif.claims.ppo.pseudo_10_vs_human_10.text:}. The table over four label budgets and its figure are below and in lesson 8 (`python lessons/experiments/rlaif.py --seeds 0 1 2`, 84 minutes on 2 cores).",
        '| Costly data | synthetic (AI) feedback + semi-supervised RL | a simulated labeler and what its noise costs (lesson 4); the SFT model as an AI labeler by a written constitution (`train_rm.py --labeler ai`): PPO gold {rlaif.over_seeds.ppo.ai_only.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.ai_only.gold.se:.2f} against {rlaif.over_seeds.ppo.human_100.gold.mean:+.2f} ± {rlaif.over_seeds.ppo.human_100.gold.se:.2f} on human labels, {rlaif.claims.ppo.ai_only_vs_human_100.text:}; with human labels on 10% of the prompts (`python lessons/experiments/rlaif.py --seeds 0 1 2`), AI labels for the rest: {rlaif.claims.ppo.ai_10_vs_human_10.text:}; pseudo-labels: {rlaif.claims.ppo.pseudo_10_vs_human_10.text:} (lesson 8) |',
        "| Sparse reward | dense rewards (score the output in pieces) | per-token KL reward, critic + GAE spread the one RM score (lesson 5); without the critic's per-token credit (`python train_grpo.py`, lesson 9): {cf.over_seeds.claim.diff:+.2f} ± {cf.over_seeds.claim.se:.2f} gold against PPO over 3 seeds, short of the 0.10 goal; sentence-level rewards from the RM (`python lessons/experiments/dense_reward.py --seeds 0 1 2`, gold at iteration 40, dense − terminal): PPO, {dense.claims.ppo.40.text:}; critic-free, {dense.claims.grpo.40.text:}, a hint only (three seeds, twelve comparisons, and a chain trained on another machine gave the opposite sign; lesson 5) |",
        "| Reward hacking | several reward constraints + adversarial training | the KL leash: without it and at 10× the step size gold falls to {hack.gold_reward_ppo:+.2f} at KL {hack.kl:.0f} while the RM climbs to {hack.rm_reward_ppo:+.2f} (default: {ppo.gold_reward_ppo:+.2f}; lesson 6); a verifier instead of the RM is exact on the sums and blind to the rest (`harmless` on them {cf.verifier.verifier.sums_components_sft.harmless:+.2f} → {cf.verifier.verifier.sums_components.harmless:+.2f}, with the RM {cf.verifier.rm.sums_components.harmless:+.2f}; lesson 9); with the leash off (β = 0, lr 3e-4, 40 iterations), final gold against one RM's {ens.over_seeds.gold.single.mean:+.2f} ± {ens.over_seeds.gold.single.se:.2f}: the mean of 3 RMs (`python lessons/experiments/ensembles.py --seeds 0 1 2 --aggregates mean min lcb --leash`), {ens.claims.gold.mean.text:}; two rounds of new labels on the policy's samples (`python lessons/experiments/iterated_rlhf.py --seeds 0 1 2`), {iter.claims.gold.2.text:} (lesson 6) |",
        "| Unstable training | KL regularisation + curriculum RL | KL, clipped ratio and value, whitening (lesson 5); easy prompts first (`python lessons/experiments/curriculum.py --seeds 0 1 2`): {cur.claim.text:} (lesson 6) |",
        "to {hack.gold_reward_ppo:+.2f} ± {hack.gold_reward_ppo_se:.2f} at KL {hack.kl:.0f}, while the RM score keeps "
        "rising to {hack.rm_reward_ppo:+.2f}",
        "gold {sft.gold_reward:+.2f} ± {sft.gold_reward_se:.2f} on the 40 test prompts (its corpus "
        "{sft.corpus_gold_reward:+.2f}, best {sft.gold_reward_best:+.2f}), EOS rate {sft.eos_rate:.2f}",
        "held-out accuracy {rm.val_accuracy:.2f} ± {rm.val_accuracy_se:.2f} against a labeler ceiling of "
        "{rm.labeler_accuracy:.2f} (skill {rm.skill_vs_ceiling:.2f} ± {rm.skill_se:.2f}); Spearman "
        "{rm.gold_correlation.spearman:.2f} with gold",
        "gold {ppo.gold_reward_sft:+.2f} → {ppo.gold_reward_ppo:+.2f} ± {ppo.gold_reward_ppo_se:.2f} "
        "({ppo.gold_gain_fraction:.0%} of the gap to the best closed), KL {ppo.kl:.1f} nats, win rate vs SFT "
        "{ppo.win_rate_vs_sft:.2f} ± {ppo.win_rate_vs_sft_se:.2f}",
        "gold {sft.gold_reward:+.2f} ± {sft.gold_reward_se:.2f} over 1,000 samples of the 40 test prompts against a "
        "corpus average of {sft.corpus_gold_reward:+.2f} ± {sft.corpus_gold_reward_se:.2f}",
        "accuracy {rm.val_accuracy:.3f} ± {rm.val_accuracy_se:.3f} against the labeler ceiling {rm.labeler_accuracy:.3f}",
        "skill {rm.skill_vs_ceiling:.2f} ± {rm.skill_se:.2f} of the way from chance to the ceiling",
        "{rm.gold_order_accuracy:.2f} against the noiseless gold order; Spearman {rm.gold_correlation.spearman:.2f} "
        "± {rm.gold_correlation.spearman_se:.2f}",
        "({rm.n_pairs:,} comparisons)",
        "On {rm.n_val_pairs:,} pairs of the 40 test prompts",
    ] + [
        f"| {i} | {{{f}.gold_reward_sft:+.2f}} → {{{f}.gold_reward_ppo:+.2f}} ± {{{f}.gold_reward_ppo_se:.2f}} | "
        f"{{{f}.gold_gain:+.2f}} ± {{{f}.gold_gain_se:.2f}} | {{{f}.gold_gain_fraction:.0%}} | {{{f}.kl:.2f}} | "
        f"{{{f}.win_rate_vs_sft:.3f}} ± {{{f}.win_rate_vs_sft_se:.3f}} |" for i, f in enumerate(("ppo", "ppo1", "ppo2"))
    ] + [
        "DPO (β = 0.3, one epoch) reaches gold {dpo.gold_reward_dpo:+.2f} ± {dpo.gold_reward_dpo_se:.2f} at KL "
        "{dpo.kl:.2f} nats (gain {dpo.gold_gain:+.2f} ± {dpo.gold_gain_se:.2f} paired, win rate "
        "{dpo.win_rate_vs_sft:.2f} ± {dpo.win_rate_vs_sft_se:.2f}); PPO seed 0 reaches {ppo.gold_reward_ppo:+.2f} ± "
        "{ppo.gold_reward_ppo_se:.2f} at KL {ppo.kl:.2f}",
        "Best-of-16 reaches {bon.gold_reward_bon:+.2f} ± {bon.gold_reward_bon_se:.2f} (gain {bon.gold_gain:+.2f} ± "
        "{bon.gold_gain_se:.2f}, win rate {bon.win_rate_vs_sft:.2f} ± {bon.win_rate_vs_sft_se:.2f})",
        "| `train_grpo.py` (instead of PPO) | {cf_default.wall_seconds:.0f} s | gold {cf_default.gold_reward_sft:+.2f} → "
        "{cf_default.gold_reward_grpo:+.2f} ± {cf_default.gold_reward_grpo_se:.2f} ({cf_default.gold_gain_fraction:.0%} of "
        "the gap closed), KL {cf_default.kl:.1f} nats, win rate vs SFT {cf_default.win_rate_vs_sft:.2f} ± "
        "{cf_default.win_rate_vs_sft_se:.2f} |",
        "On the test split, seed 0: gold {cf_default.gold_reward_sft:+.2f} → {cf_default.gold_reward_grpo:+.2f} ± "
        "{cf_default.gold_reward_grpo_se:.2f} (gain {cf_default.gold_gain:+.2f} ± {cf_default.gold_gain_se:.2f} paired, "
        "{cf_default.gold_gain_fraction:.0%} of the gap) at KL {cf_default.kl:.2f} nats in {cf_default.wall_seconds:.0f} s",
        "critic-free {cf.over_seeds.grpo.mean:+.2f} ± {cf.over_seeds.grpo.se:.2f} at KL {cf.over_seeds.kl_grpo.mean:.2f} "
        "against PPO's {cf.over_seeds.ppo.mean:+.2f} ± {cf.over_seeds.ppo.se:.2f} at KL {cf.over_seeds.kl_ppo.mean:.2f}, in "
        "{cf.over_seeds.wall_grpo.mean:.0f} s against {cf.over_seeds.wall_ppo.mean:.0f} s of wall time; "
        "{cf.over_seeds.claim.text:}",
        "pass@1 on the held-out sums {cf.verifier.verifier.pass1_sft:.2f} → {cf.verifier.verifier.pass1:.2f}, while "
        "`harmless` on those answers, which the checker cannot see, stays near SFT's "
        "({cf.verifier.verifier.sums_components_sft.harmless:+.2f} → {cf.verifier.verifier.sums_components.harmless:+.2f})",
    ],
    "lessons/README.md": [
        "| `train_grpo.py` (lesson 9, instead of PPO) | ~1 min | gold {cf_default.gold_reward_grpo:+.2f} ± "
        "{cf_default.gold_reward_grpo_se:.2f} ({cf_default.gold_gain_fraction:.0%} of the SFT→best gap), KL "
        "{cf_default.kl:.1f} nats, win rate vs SFT {cf_default.win_rate_vs_sft:.2f} ± {cf_default.win_rate_vs_sft_se:.2f} |",
        "held-out gold {sft.gold_reward:+.2f} ± {sft.gold_reward_se:.2f} (corpus {sft.corpus_gold_reward:+.2f}, best "
        "{sft.gold_reward_best:+.2f}); EOS rate {sft.eos_rate:.2f}",
        "held-out accuracy {rm.val_accuracy:.2f} ± {rm.val_accuracy_se:.2f} vs the labeler's ceiling "
        "{rm.labeler_accuracy:.2f} (skill {rm.skill_vs_ceiling:.2f} ± {rm.skill_se:.2f}); Spearman "
        "{rm.gold_correlation.spearman:.2f} with gold",
        "gold {ppo.gold_reward_ppo:+.2f} ± {ppo.gold_reward_ppo_se:.2f} ({ppo.gold_gain_fraction:.0%} of the SFT→best "
        "gap), KL {ppo.kl:.1f} nats, win rate vs SFT {ppo.win_rate_vs_sft:.2f} ± {ppo.win_rate_vs_sft_se:.2f}",
    ],
    "lessons/01-why-rl.md": [
        "| corpus (the demonstrations, 50 draws per test prompt) | {sft.corpus_gold_reward:+.2f} ± "
        "{sft.corpus_gold_reward_se:.2f} |",
        "| SFT (`out/sft_summary.json`, 1,000 samples) | {sft.gold_reward:+.2f} ± {sft.gold_reward_se:.2f} | "
        "{sft.gold_components.honest:+.2f} | {sft.gold_components.harmless:+.2f} | {sft.gold_components.helpful:+.2f} | "
        "{sft.gold_components.concise:+.2f} | 0 | — |",
    ] + [
        f"| PPO seed {i} | {{{f}.gold_reward_ppo:+.2f}} ± {{{f}.gold_reward_ppo_se:.2f}} | "
        f"{{{f}.gold_components_ppo.honest:+.2f}} | {{{f}.gold_components_ppo.harmless:+.2f}} | "
        f"{{{f}.gold_components_ppo.helpful:+.2f}} | {{{f}.gold_components_ppo.concise:+.2f}} | {{{f}.kl:.2f}} | "
        f"{{{f}.win_rate_vs_sft:.3f}} ± {{{f}.win_rate_vs_sft_se:.3f}} |" for i, f in enumerate(("ppo", "ppo1", "ppo2"))
    ],
    "lessons/05-ppo.md": [
        "the end, for a critic that starts as the RM (the scratch critic's rises, {dense.over_seeds.ppo_scratch.explained_var.terminal.mean:.2f} → {dense.over_seeds.ppo_scratch.explained_var.dense.mean:.2f}). The prefix scores are also the RM's judgement of an answer cut short, a kind of response it was never",
        "| PPO, critic from the RM (default) | {dense.over_seeds.ppo.10.terminal.mean:+.2f} / {dense.over_seeds.ppo.10.dense.mean:+.2f} | {dense.over_seeds.ppo.20.terminal.mean:+.2f} / {dense.over_seeds.ppo.20.dense.mean:+.2f} | {dense.over_seeds.ppo.40.terminal.mean:+.2f} ± {dense.over_seeds.ppo.40.terminal.se:.2f} / {dense.over_seeds.ppo.40.dense.mean:+.2f} ± {dense.over_seeds.ppo.40.dense.se:.2f} | {dense.claims.ppo.40.diff:+.3f} ± {dense.claims.ppo.40.se:.3f} | {dense.over_seeds.ppo.kl.terminal.mean:.2f} / {dense.over_seeds.ppo.kl.dense.mean:.2f} | {dense.over_seeds.ppo.explained_var.terminal.mean:.2f} / {dense.over_seeds.ppo.explained_var.dense.mean:.2f} |",
        "| PPO, critic from scratch | {dense.over_seeds.ppo_scratch.10.terminal.mean:+.2f} / {dense.over_seeds.ppo_scratch.10.dense.mean:+.2f} | {dense.over_seeds.ppo_scratch.20.terminal.mean:+.2f} / {dense.over_seeds.ppo_scratch.20.dense.mean:+.2f} | {dense.over_seeds.ppo_scratch.40.terminal.mean:+.2f} ± {dense.over_seeds.ppo_scratch.40.terminal.se:.2f} / {dense.over_seeds.ppo_scratch.40.dense.mean:+.2f} ± {dense.over_seeds.ppo_scratch.40.dense.se:.2f} | {dense.claims.ppo_scratch.40.diff:+.3f} ± {dense.claims.ppo_scratch.40.se:.3f} | {dense.over_seeds.ppo_scratch.kl.terminal.mean:.2f} / {dense.over_seeds.ppo_scratch.kl.dense.mean:.2f} | {dense.over_seeds.ppo_scratch.explained_var.terminal.mean:.2f} / {dense.over_seeds.ppo_scratch.explained_var.dense.mean:.2f} |",
        "| critic-free (GRPO) | {dense.over_seeds.grpo.10.terminal.mean:+.2f} / {dense.over_seeds.grpo.10.dense.mean:+.2f} | {dense.over_seeds.grpo.20.terminal.mean:+.2f} / {dense.over_seeds.grpo.20.dense.mean:+.2f} | {dense.over_seeds.grpo.40.terminal.mean:+.2f} ± {dense.over_seeds.grpo.40.terminal.se:.2f} / {dense.over_seeds.grpo.40.dense.mean:+.2f} ± {dense.over_seeds.grpo.40.dense.se:.2f} | {dense.claims.grpo.40.diff:+.3f} ± {dense.claims.grpo.40.se:.3f} | {dense.over_seeds.grpo.kl.terminal.mean:.2f} / {dense.over_seeds.grpo.kl.dense.mean:.2f} | — |",
        "Read it per trainer. With PPO's default critic, at iteration 40 {dense.claims.ppo.40.text:}, as predicted:",
        "from scratch the dense arm is ahead early ({dense.claims.ppo_scratch.10.text:} at iteration 10, and",
        "{dense.claims.ppo_scratch.20.diff:+.3f} ± {dense.claims.ppo_scratch.20.se:.3f} and {dense.claims.ppo_scratch.30.diff:+.3f} ± {dense.claims.ppo_scratch.30.se:.3f} at 20 and 30), which is what earlier credit should buy while the critic is still learning, and the gap is gone by",
        "iteration 40 ({dense.claims.ppo_scratch.40.text:}). Without a critic, at iteration 40,",
        "{dense.claims.grpo.40.text:}. Two cautions before believing any single line. Three seeds make 2 SE a weak bar:",
        "default critic's explained variance ({dense.over_seeds.ppo.explained_var.terminal.mean:.2f} →",
        "{dense.over_seeds.ppo.explained_var.dense.mean:.2f}): the per-token rewards are noisier targets than one score at",
        "moved dev gold from {it_it40_seed0.gold_reward_ppo:+.2f} to {it_it60_seed0.gold_reward_ppo:+.2f} on seed 0 "
        "and from {it_it40_seed1.gold_reward_ppo:+.2f} to {it_it60_seed1.gold_reward_ppo:+.2f} on seed 1",
        "reached only {it_it40_lr6e_5.gold_reward_ppo:+.2f} (6e-5, KL {it_it40_lr6e_5.kl:.2f}) and "
        "{it_it40_lr1e_4.gold_reward_ppo:+.2f} (1e-4, KL {it_it40_lr1e_4.kl:.2f})",
    ] + [
        f"| {{abl_{n}.gold_reward_sft:+.2f}} → {{abl_{n}.gold_reward_ppo:+.2f}} ± {{abl_{n}.gold_reward_ppo_se:.2f}} | "
        f"{{abl_{n}.gold_gain:+.2f}} ± {{abl_{n}.gold_gain_se:.2f}} | {{abl_{n}.kl:.2f}} | {{abl_{n}.win_rate_vs_sft:.3f}}"
        f" ± {{abl_{n}.win_rate_vs_sft_se:.3f}} | {{abl_{n}.iteration_log.19.beta:.3f}} | "
        f"{{abl_{n}.iteration_log.0.explained_var:+.2f}} → {{abl_{n}.iteration_log.19.explained_var:+.2f}} |"
        for n in ("default20", "no_whiten", "critic_sft", "critic_scratch", "k3", "target1", "t07", "t07_noscale")
    ],
    "lessons/04-reward-model.md": [
        "reach skill {rm_nf0.skill_vs_ceiling:.2f}, {rm_nf1.skill_vs_ceiling:.2f} and {rm_nf2.skill_vs_ceiling:.2f}",
        "gold order {rm_nf0.gold_order_accuracy:.2f}, {rm_nf1.gold_order_accuracy:.2f} and "
        "{rm_nf2.gold_order_accuracy:.2f}",
        "and Spearman {rm_nf0.gold_correlation.spearman:.2f}, {rm_nf1.gold_correlation.spearman:.2f} and "
        "{rm_nf2.gold_correlation.spearman:.2f}",
        "| {rm.n_pairs:,} | {rm1.n_pairs:,} | {rm2.n_pairs:,} |",
        "| {rm.val_accuracy:.3f} ± {rm.val_accuracy_se:.3f} | {rm1.val_accuracy:.3f} ± {rm1.val_accuracy_se:.3f} | "
        "{rm2.val_accuracy:.3f} ± {rm2.val_accuracy_se:.3f} |",
        "| {rm.labeler_accuracy:.3f} | {rm1.labeler_accuracy:.3f} | {rm2.labeler_accuracy:.3f} |",
        "| {rm.skill_vs_ceiling:.2f} ± {rm.skill_se:.2f} | {rm1.skill_vs_ceiling:.2f} ± {rm1.skill_se:.2f} | "
        "{rm2.skill_vs_ceiling:.2f} ± {rm2.skill_se:.2f} |",
        "| {rm.gold_order_accuracy:.3f} | {rm1.gold_order_accuracy:.3f} | {rm2.gold_order_accuracy:.3f} |",
    ] + [f"{{{r}.gold_correlation.spearman:.2f}} ({{{r}.gold_correlation.by_kind.colour.spearman:.2f}} / "
         f"{{{r}.gold_correlation.by_kind.sound.spearman:.2f}} / {{{r}.gold_correlation.by_kind.sum.spearman:.2f}})"
         for r in ("rm", "rm1", "rm2")],
    "lessons/06-reward-hacking.md": [
        '**Costly data → synthetic feedback + semi-supervised RL.** *Measured* (lesson 8). Every label here is "synthetic", from a known function, so lesson 4 measures how much an RM learns per label and what label noise costs. Lesson 8 replaces the human: the SFT model judges its own samples by a written constitution (`train_rm.py --labeler ai`), and PPO on those labels reaches {rlaif.over_seeds.ppo.ai_only.gain_fraction.mean:.0%} of the SFT-to-best gap against {rlaif.over_seeds.ppo.human_100.gain_fraction.mean:.0%} on human labels ({rlaif.claims.ppo.ai_only_vs_human_100.text:}); with human labels on a tenth of the prompts, neither pseudo-labels nor AI labels for the rest change PPO\'s gold detectably.',
        "| PPO, mean of 3 RMs, β = 0 | {frontier.rows.16.kl:.2f} | {frontier.rows.16.gold:+.2f} ± {frontier.rows.16.gold_se:.2f} | {frontier.rows.16.rm:+.2f} |",
        "| PPO, mean of 3 RMs, β = 0.1 | {frontier.rows.17.kl:.2f} | {frontier.rows.17.gold:+.2f} ± {frontier.rows.17.gold_se:.2f} | {frontier.rows.17.rm:+.2f} |",
        "| PPO, iterated RM (round 2), β = 0 | {frontier.rows.18.kl:.2f} | {frontier.rows.18.gold:+.2f} ± {frontier.rows.18.gold_se:.2f} | {frontier.rows.18.rm:+.2f} |",
        "| PPO, iterated RM (round 2), β = 0.1 | {frontier.rows.19.kl:.2f} | {frontier.rows.19.gold:+.2f} ± {frontier.rows.19.gold_se:.2f} | {frontier.rows.19.rm:+.2f} |",
        "{frontier.rows.16.gold:+.2f} ± {frontier.rows.16.gold_se:.2f} (KL {frontier.rows.16.kl:.2f}) and the iterated RM at",
        "{frontier.rows.18.gold:+.2f} ± {frontier.rows.18.gold_se:.2f} (KL {frontier.rows.18.kl:.2f}), against",
        "{frontier.rows.7.gold:+.2f} ± {frontier.rows.7.gold_se:.2f}; with it, {frontier.rows.17.gold:+.2f} and",
        "{frontier.rows.19.gold:+.2f} against {frontier.rows.8.gold:+.2f}. Iterated RLHF earns its keep where the policy",
        "{dense.claims.ppo.40.text:}. A hand-written dense reward (\"+0.1 per correct word\") would be one more thing to",
        "| several reward constraints: the mean of 3 RMs | `python lessons/experiments/ensembles.py --seeds 0 1 2 --aggregates mean min lcb --leash` | {ens.claims.gold.mean.text:} |",
        "| several reward constraints: the minimum of 3 RMs | (the same run) | {ens.claims.gold.min.text:} |",
        "| several reward constraints: mean − std of 3 RMs | (the same run) | {ens.claims.gold.lcb.text:} |",
        "| adversarial training: iterated RLHF, round 2 against round 0 | `python lessons/experiments/iterated_rlhf.py --seeds 0 1 2` | {iter.claims.gold.2.text:} |",
        "| curriculum RL: easy prompts first (default β) | `python lessons/experiments/curriculum.py --seeds 0 1 2` | {cur.claim.text:} |",
        "| dense rewards: sentence-level, PPO's default critic (default β) | `python lessons/experiments/dense_reward.py --seeds 0 1 2` | {dense.claims.ppo.40.text:} |",
        "| dense rewards: sentence-level, critic-free | (the same run) | {dense.claims.grpo.40.text:} |",
        "| one RM (the chain's) | {ens.over_seeds.gold.single.mean:+.2f} ± {ens.over_seeds.gold.single.se:.2f} | {ens.over_seeds.peak_gold.single.mean:+.2f} ± {ens.over_seeds.peak_gold.single.se:.2f} (KL {ens.over_seeds.peak_kl.single.mean:.1f}) | {ens.over_seeds.kl.single.mean:.1f} | {ens.over_seeds.spearman.single.mean:.2f} ± {ens.over_seeds.spearman.single.se:.2f} |",
        "| mean of 3 | {ens.over_seeds.gold.mean.mean:+.2f} ± {ens.over_seeds.gold.mean.se:.2f} | {ens.over_seeds.peak_gold.mean.mean:+.2f} ± {ens.over_seeds.peak_gold.mean.se:.2f} (KL {ens.over_seeds.peak_kl.mean.mean:.1f}) | {ens.over_seeds.kl.mean.mean:.1f} | {ens.over_seeds.spearman.mean.mean:.2f} ± {ens.over_seeds.spearman.mean.se:.2f} |",
        "| minimum of 3 | {ens.over_seeds.gold.min.mean:+.2f} ± {ens.over_seeds.gold.min.se:.2f} | {ens.over_seeds.peak_gold.min.mean:+.2f} ± {ens.over_seeds.peak_gold.min.se:.2f} (KL {ens.over_seeds.peak_kl.min.mean:.1f}) | {ens.over_seeds.kl.min.mean:.1f} | {ens.over_seeds.spearman.min.mean:.2f} ± {ens.over_seeds.spearman.min.se:.2f} |",
        "| mean − std of 3 | {ens.over_seeds.gold.lcb.mean:+.2f} ± {ens.over_seeds.gold.lcb.se:.2f} | {ens.over_seeds.peak_gold.lcb.mean:+.2f} ± {ens.over_seeds.peak_gold.lcb.se:.2f} (KL {ens.over_seeds.peak_kl.lcb.mean:.1f}) | {ens.over_seeds.kl.lcb.mean:.1f} | {ens.over_seeds.spearman.lcb.mean:.2f} ± {ens.over_seeds.spearman.lcb.se:.2f} |",
        "Over three seeds, against one RM: the mean, {ens.claims.gold.mean.text:}; the minimum, {ens.claims.gold.min.text:};",
        "the lower bound, {ens.claims.gold.lcb.text:}. The RM–gold rank correlation on the policy's final samples does not",
        "improve either (mean: {ens.claims.spearman.mean.text:}). Three reasons, each visible here. The members share their",
        "a bootstrap resample holds about 63% of the distinct prompts (member 0's skill {ens.members.0.skill_vs_ceiling:.2f} against",
        "{rm.skill_vs_ceiling:.2f}). And an aggregate of scores is still a number to push: the minimum's seed 0 ran to a KL",
        "of {ens.arms.min.0.kl:.0f} and the mean's seed 1 to {ens.arms.mean.1.kl:.0f}, with the lowest final gold of the table. Iterated",
        "noise of the single RM ({ens.default_beta.mean.vs_single.diff:+.2f} ± {ens.default_beta.mean.vs_single.se:.2f} and",
        "{ens.default_beta.lcb.vs_single.diff:+.2f} ± {ens.default_beta.lcb.vs_single.se:.2f}) and the minimum lower",
        "({ens.default_beta.min.vs_single.diff:+.2f} ± {ens.default_beta.min.vs_single.se:.2f}, at KL",
        "{ens.default_beta.min.kl:.2f} against {ens.default_beta.single.kl:.2f}): the most conservative reward buys the least",
        "(the score phase {ens.default_beta.single.score_seconds:.0f} s → {ens.default_beta.mean.score_seconds:.0f} s of a",
        "{ens.default_beta.single.wall_seconds:.0f} s → {ens.default_beta.mean.wall_seconds:.0f} s run), and three times the",
        "| 0 | {iter.runs.0.0.labels:,} | {iter.over_seeds.gold.0.mean:+.2f} ± {iter.over_seeds.gold.0.se:.2f} | {iter.over_seeds.peak_gold.0.mean:+.2f} ± {iter.over_seeds.peak_gold.0.se:.2f} | — | — |",
        "| 1 | {iter.runs.0.1.labels:,} | {iter.over_seeds.gold.1.mean:+.2f} ± {iter.over_seeds.gold.1.se:.2f} | {iter.over_seeds.peak_gold.1.mean:+.2f} ± {iter.over_seeds.peak_gold.1.se:.2f} | {iter.over_seeds.probe_before_val_accuracy.1.mean:.3f} → {iter.over_seeds.probe_after_val_accuracy.1.mean:.3f} | {iter.over_seeds.probe_before_rm_prefers_policy.1.mean:.2f} → {iter.over_seeds.probe_after_rm_prefers_policy.1.mean:.2f} ({iter.over_seeds.probe_before_labeler_prefers_policy.1.mean:.2f}) |",
        "| 2 | {iter.runs.0.2.labels:,} | {iter.over_seeds.gold.2.mean:+.2f} ± {iter.over_seeds.gold.2.se:.2f} | {iter.over_seeds.peak_gold.2.mean:+.2f} ± {iter.over_seeds.peak_gold.2.se:.2f} | {iter.over_seeds.probe_before_val_accuracy.2.mean:.3f} → {iter.over_seeds.probe_after_val_accuracy.2.mean:.3f} | {iter.over_seeds.probe_before_rm_prefers_policy.2.mean:.2f} → {iter.over_seeds.probe_after_rm_prefers_policy.2.mean:.2f} ({iter.over_seeds.probe_before_labeler_prefers_policy.2.mean:.2f}) |",
        "{iter.over_seeds.probe_before_rm_prefers_policy.1.mean:.2f} of the probe's pairs, where the labeler prefers it in",
        "only {iter.over_seeds.probe_before_labeler_prefers_policy.1.mean:.2f}: on the policy's own samples the RM is at chance",
        "against the labels ({iter.over_seeds.probe_before_val_accuracy.1.mean:.3f}), though it scores {rm.val_accuracy:.3f}",
        "on pairs of SFT samples. One round of 2,000 labels moves the new RM to {iter.over_seeds.probe_after_val_accuracy.1.mean:.3f}",
        "on the same probe ({iter.claims.probe_val_accuracy.1.text:}) and its preference for the policy to",
        "{iter.over_seeds.probe_after_rm_prefers_policy.1.mean:.2f}, near the labeler's, with no loss on SFT pairs (skill",
        "{iter.runs.0.1.rm_skill:.2f} ± {iter.runs.0.1.rm_skill_se:.2f} on seed 0, the chain's RM {rm.skill_vs_ceiling:.2f}).",
        "But PPO restarted against it finds the next hole: after one round the final gold shows {iter.claims.gold.1.text:}",
        "(seed 1 ran to a KL of {iter.runs.1.1.ppo.kl:.0f} and ended lower than its round 0), though the peak along the run rose",
        "({iter.claims.peak_gold.1.text:}). After the second round, {iter.claims.gold.2.text:}; the runs also drift less",
        "(final KL {iter.runs.0.2.ppo.kl:.1f}, {iter.runs.1.2.ppo.kl:.1f} and {iter.runs.2.2.ppo.kl:.1f} nats against round 0's {iter.runs.0.0.ppo.kl:.1f}, {iter.runs.1.0.ppo.kl:.1f} and {iter.runs.2.0.ppo.kl:.1f}). Without the leash the policy ends about where SFT starts (round 0's peak, {iter.over_seeds.peak_gold.0.mean:+.2f}, is mostly SFT's own evaluation at iteration 0), far below the leashed default's {ppo.gold_reward_ppo:+.2f}: two rounds",
        "kept collecting. The cost is labels and time: {iter.runs.0.1.new_pairs:,} new labels in round 1 on top of the chain's {iter.runs.0.0.labels:,},",
        "and per round (seed 0) a new RM ({iter.runs.0.1.rm_seconds:.0f} s) and a new PPO run ({iter.runs.0.1.ppo.wall_seconds:.0f} s) on this CPU;",
        "sampling and labelling the new and probe pairs took {iter.runs.0.1.sample_label_seconds:.0f} s.",
        '| 0 | {cur.arms.uniform.0.gold:+.2f} ± {cur.arms.uniform.0.gold_se:.2f} | {cur.arms.easy-first.0.gold:+.2f} ± {cur.arms.easy-first.0.gold_se:.2f} | {cur.paired.0.diff:+.2f} ± {cur.paired.0.se:.2f} | {cur.arms.uniform.0.kl:.2f} / {cur.arms.easy-first.0.kl:.2f} | {cur.arms.uniform.0.honest_sums:+.2f} / {cur.arms.easy-first.0.honest_sums:+.2f} ({cur.arms.uniform.0.honest_sums_sft:+.2f}) |',
        '| 1 | {cur.arms.uniform.1.gold:+.2f} ± {cur.arms.uniform.1.gold_se:.2f} | {cur.arms.easy-first.1.gold:+.2f} ± {cur.arms.easy-first.1.gold_se:.2f} | {cur.paired.1.diff:+.2f} ± {cur.paired.1.se:.2f} | {cur.arms.uniform.1.kl:.2f} / {cur.arms.easy-first.1.kl:.2f} | {cur.arms.uniform.1.honest_sums:+.2f} / {cur.arms.easy-first.1.honest_sums:+.2f} ({cur.arms.uniform.1.honest_sums_sft:+.2f}) |',
        '| 2 | {cur.arms.uniform.2.gold:+.2f} ± {cur.arms.uniform.2.gold_se:.2f} | {cur.arms.easy-first.2.gold:+.2f} ± {cur.arms.easy-first.2.gold_se:.2f} | {cur.paired.2.diff:+.2f} ± {cur.paired.2.se:.2f} | {cur.arms.uniform.2.kl:.2f} / {cur.arms.easy-first.2.kl:.2f} | {cur.arms.uniform.2.honest_sums:+.2f} / {cur.arms.easy-first.2.honest_sums:+.2f} ({cur.arms.uniform.2.honest_sums_sft:+.2f}) |',
        'over three seeds, uniform {cur.over_seeds.gold_uniform.mean:+.2f} ± {cur.over_seeds.gold_uniform.se:.2f} and easy-first {cur.over_seeds.gold_easy-first.mean:+.2f} ± {cur.over_seeds.gold_easy-first.se:.2f}: {cur.claim.text:}',
        '`honest` on the sums: {cur.claim_honest_sums.text:}',
        "PPO β = 0 {frontier_dev.rows.7.gold:+.2f} ± {frontier_dev.rows.7.gold_se:.2f} at KL {frontier_dev.rows.7.kl:.2f}",
        "β = 0.1 {frontier_dev.rows.8.gold:+.2f} ± {frontier_dev.rows.8.gold_se:.2f} at KL {frontier_dev.rows.8.kl:.2f}",
        "β = 0.4 {frontier_dev.rows.9.gold:+.2f} ± {frontier_dev.rows.9.gold_se:.2f}; DPO β = 0.1 "
        "{frontier_dev.rows.10.gold:+.2f} ± {frontier_dev.rows.10.gold_se:.2f} at KL {frontier_dev.rows.10.kl:.1f}, "
        "β = 0.3 {frontier_dev.rows.11.gold:+.2f} ± {frontier_dev.rows.11.gold_se:.2f}, β = 1 "
        "{frontier_dev.rows.12.gold:+.2f} ± {frontier_dev.rows.12.gold_se:.2f}",
        "| SFT | 0 | {frontier.rows.0.gold:+.2f} ± {frontier.rows.0.gold_se:.2f} | {frontier.rows.0.rm:+.2f} |",
        '| critic-free β = 0.4 | {frontier.rows.15.kl:.2f} | {frontier.rows.15.gold:+.2f} ± {frontier.rows.15.gold_se:.2f} | {frontier.rows.15.rm:+.2f} |',
        '| critic-free β = 0.1 (default) | {frontier.rows.14.kl:.2f} | {frontier.rows.14.gold:+.2f} ± {frontier.rows.14.gold_se:.2f} | {frontier.rows.14.rm:+.2f} |',
        '| critic-free β = 0 | {frontier.rows.13.kl:.2f} | {frontier.rows.13.gold:+.2f} ± {frontier.rows.13.gold_se:.2f} | {frontier.rows.13.rm:+.2f} |',
        'the critic-free trainer (lesson 9) β = 0 {frontier_dev.rows.13.gold:+.2f} ± {frontier_dev.rows.13.gold_se:.2f} at KL {frontier_dev.rows.13.kl:.2f}, β = 0.1 {frontier_dev.rows.14.gold:+.2f} ± {frontier_dev.rows.14.gold_se:.2f} at KL {frontier_dev.rows.14.kl:.2f}, β = 0.4 {frontier_dev.rows.15.gold:+.2f} ± {frontier_dev.rows.15.gold_se:.2f} at KL {frontier_dev.rows.15.kl:.2f}',
    ] + [f"| {{frontier.rows.{i}.kl:.2f}} | {{frontier.rows.{i}.gold:+.2f}} ± {{frontier.rows.{i}.gold_se:.2f}} | "
         f"{{frontier.rows.{i}.rm:+.2f}} |" for i in (2, 4, 5, 7, 8, 9, 10, 11, 12)] + [
        "| best-of-64 | 3.17 | {frontier.rows.6.gold:+.2f} ± {frontier.rows.6.gold_se:.2f} | {frontier.rows.6.rm:+.2f} |",
        "$d({overopt.fits.best-of-n.gold.0:.2f} - {overopt.fits.best-of-n.gold.1:.2f}\\,d)$, $R^2 = "
        "{overopt.fits.best-of-n.gold.2:.2f}$",
    ] + [f"| {{hack.history.{i}.iteration:d}} | {{hack.history.{i}.kl:.2f}} | {{hack.history.{i}.rm:+.2f}} | "
         + ("**{}** (peak)" if i == 0 else "{}").format(f"{{hack.history.{i}.gold:+.2f}} ± "
                                                        f"{{hack.history.{i}.gold_se:.2f}}")
         + f" | {{hack.history.{i}.win_rate:.3f}} | {{hack.history.{i}.rm_gold_spearman:.2f}} |"
         for i in (0, 1, 2, 3, 5, 8)] + [
        "ends at KL {ppo.kl:.2f} with gold {ppo.gold_reward_ppo:+.2f} ± {ppo.gold_reward_ppo_se:.2f} and RM "
        "{ppo.rm_reward_ppo:+.2f}",
        "KL grows slowly to {beta0.kl:.2f} nats, gold rises to {beta0.gold_reward_ppo:+.2f} ± "
        "{beta0.gold_reward_ppo_se:.2f} and the RM to {beta0.rm_reward_ppo:+.2f}",
    ],
    "lessons/07-rlhf-at-scale.md": [
        "| SFT | {ppo.gold_reward_sft:+.2f} ± {ppo.gold_reward_sft_se:.2f} | — | 0 | — | "
        "{ppo.gold_components_sft.honest:+.2f} | {ppo.gold_components_sft.harmless:+.2f} | "
        "{ppo.gold_components_sft.helpful:+.2f} | {ppo.gold_components_sft.concise:+.2f} |",
        "| PPO (β = 0.1, the RM) | {ppo.gold_reward_ppo:+.2f} ± {ppo.gold_reward_ppo_se:.2f} | "
        "{ppo.gold_gain_fraction:.0%} | {ppo.kl:.2f} | {ppo.win_rate_vs_sft:.3f} ± {ppo.win_rate_vs_sft_se:.3f} | "
        "{ppo.gold_components_ppo.honest:+.2f} | {ppo.gold_components_ppo.harmless:+.2f} | "
        "{ppo.gold_components_ppo.helpful:+.2f} | {ppo.gold_components_ppo.concise:+.2f} |",
        "| DPO (β = 0.3, the same pairs) | {dpo.gold_reward_dpo:+.2f} ± {dpo.gold_reward_dpo_se:.2f} | "
        "{dpo.gold_gain_fraction:.0%} | {dpo.kl:.2f} | {dpo.win_rate_vs_sft:.3f} ± {dpo.win_rate_vs_sft_se:.3f} | "
        "{dpo.gold_components_dpo.honest:+.2f} | {dpo.gold_components_dpo.harmless:+.2f} | "
        "{dpo.gold_components_dpo.helpful:+.2f} | {dpo.gold_components_dpo.concise:+.2f} |",
        "| best-of-16 (SFT samples, the RM picks) | {bon.gold_reward_bon:+.2f} ± {bon.gold_reward_bon_se:.2f} | "
        "62% | 1.84 (analytic) | {bon.win_rate_vs_sft:.3f} ± {bon.win_rate_vs_sft_se:.3f} | "
        "{bon.gold_components_bon.honest:+.2f} | {bon.gold_components_bon.harmless:+.2f} | "
        "{bon.gold_components_bon.helpful:+.2f} | {bon.gold_components_bon.concise:+.2f} |",
    ],
    "lessons/03-sft.md": [
        "give {sft1.gold_reward:+.2f} ± {sft1.gold_reward_se:.2f} and {sft2.gold_reward:+.2f} ± "
        "{sft2.gold_reward_se:.2f} (EOS {sft1.eos_rate:.3f} and {sft2.eos_rate:.3f})",
        "demonstrations seen as often: {sft_nf.gold_reward:+.2f} ± {sft_nf.gold_reward_se:.2f} in "
        "{sft_nf.wall_seconds:.0f} s on the same test prompts",
        "| held-out gold reward, 1,000 samples of the 40 test prompts at T = 1 | {sft.gold_reward:+.3f} ± "
        "{sft.gold_reward_se:.3f} |",
        "| {sft.gold_reward:+.3f} ± {sft.gold_reward_se_iid:.3f} |",
        "| the corpus on the same prompts (50 fresh draws per prompt) | {sft.corpus_gold_reward:+.3f} ± "
        "{sft.corpus_gold_reward_se:.3f} |",
        "| {sft.gold_components.honest:+.2f} / {sft.gold_components.harmless:+.2f} / {sft.gold_components.helpful:+.2f}"
        " / {sft.gold_components.concise:+.2f} / {sft.gold_components.ended:+.2f} |",
        "| EOS rate | {sft.eos_rate:.3f} |",
        "| validation loss (dev prompts) | {sft.val_loss:.3f} |",
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
    return {name: json.loads((ROOT / path).read_text()) for name, (path, _) in SOURCES.items()}


def test_every_committed_summary_says_its_split(results):
    """Reported numbers come from the test split; the numbers behind a choice (ablations, beta grids) from dev."""
    for name, data in results.items():
        assert data.get("split") == SOURCES[name][1], f"{SOURCES[name][0]}: should be on {SOURCES[name][1]}"


@pytest.mark.parametrize("doc", sorted(CLAIMS))
def test_quoted_numbers_match_the_committed_summaries(doc, results):
    text = (ROOT / doc).read_text().replace("−", "-")
    text = re.sub(r"\s+", " ", text)            # a claim may wrap across lines
    unfilled = [t for t in CLAIMS[doc] if re.search(r"\{\w+\.[^}]*\}", fill(t, results))]
    assert not unfilled, f"fields the pattern cannot read (a key with other characters?): {unfilled}"
    missing = [fill(t, results) for t in CLAIMS[doc] if fill(t, results) not in text]
    assert not missing, f"{doc} no longer quotes these numbers from lessons/results/:\n" + "\n".join(missing)


def test_a_changed_number_is_caught(results, tmp_path):
    """The check can fail: one digit off in a summary and the README's sentence no longer matches."""
    changed = json.loads(json.dumps(results))
    changed["ppo"]["gold_reward_ppo"] += 0.05
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text().replace("−", "-"))
    assert any(fill(t, changed) not in text for t in CLAIMS["README.md"])


def test_the_committed_default_chain_meets_its_bars(results):
    """The bars of the project on the test split, seed 0: SFT imitates its corpus (within max(0.1 x the gap to the
    best, 2.5 SE)) and ends its answers; the RM's skill is at least 0.75 and its Spearman with gold at least 0.6;
    PPO closes at least 50% of the SFT-to-best gap at a KL of at most 10 nats."""
    sft, rm, ppo = results["sft"], results["rm"], results["ppo"]
    assert sft_bar_held(sft)
    assert sft["eos_rate"] >= 0.95
    assert rm["skill_vs_ceiling"] >= 0.75
    assert rm["gold_correlation"]["spearman"] >= 0.6
    assert ppo["gold_gain_fraction"] >= 0.5 and ppo["kl"] <= 10


def test_the_critic_free_default_meets_its_bars(results):
    """train_grpo.py at its defaults (test split, seed 0): at least 40% of the SFT-to-best gap closed at a KL of
    at most 10 nats, in at most 150 s; and the tabulated seeds are the committed runs (critic_free.json agrees)."""
    d = results["cf_default"]
    assert d["gold_gain_fraction"] >= 0.4 and d["kl"] <= 10 and d["wall_seconds"] <= 150
    assert results["cf"]["seeds"]["0"]["gold"] == d["gold_reward_grpo"]
    import train_grpo
    c = train_grpo.Config()                          # the committed default run is the script's default
    assert (d["advantage"], d["kl_in"], d["beta"], d["loss_agg"], d["split"]) == (c.advantage, c.kl_in, c.beta,
                                                                                c.loss_agg, "test")


def test_the_readme_quotes_the_ppo_means_over_seeds(results):
    """README's "over the three seeds" sentence: the mean and SE over seeds of the three committed PPO runs."""
    from nano_rlhf.stats import over_seeds
    runs = [results[k] for k in ("ppo", "ppo1", "ppo2")]
    m = {k: over_seeds([r[k] for r in runs]) for k in ("gold_reward_ppo", "gold_gain", "kl", "win_rate_vs_sft")}
    want = (f"Over the three seeds: gold {m['gold_reward_ppo']['mean']:+.2f} ± {m['gold_reward_ppo']['se']:.2f}, "
            f"gain {m['gold_gain']['mean']:+.2f} ± {m['gold_gain']['se']:.2f}, KL {m['kl']['mean']:.2f} ± "
            f"{m['kl']['se']:.2f}, win rate {m['win_rate_vs_sft']['mean']:.3f} ± {m['win_rate_vs_sft']['se']:.3f}")
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text().replace("−", "-"))
    assert want in text, want


@pytest.mark.parametrize("txt", ["rm_limits.txt", "rm_limits_no_fact_checks.txt"])
def test_lesson_4_quotes_rm_limits_output(txt):
    """Lesson 4's two printouts of lessons/experiments/rm_limits.py are the committed outputs, line by line (the
    phase timings in parentheses left out)."""
    lesson = (ROOT / "lessons/04-reward-model.md").read_text()
    lines = [re.sub(r" \(\d+s\)$", "", line.rstrip()) for line in (ROOT / "lessons/results" / txt).read_text()
             .splitlines() if line.strip()]
    missing = [line for line in lines if line not in lesson]
    assert not missing, f"lesson 4 does not quote lessons/results/{txt}:\n" + "\n".join(missing)


def sft_bar_held(sft: dict) -> bool:
    """The SFT bar (test_the_committed_default_chain_meets_its_bars): gold within max(0.1 x the gap from the corpus
    to the best, 2.5 SE) of the corpus's, on the summary's own split."""
    gap = sft["gold_reward_best"] - sft["corpus_gold_reward"]
    return abs(sft["gold_reward"] - sft["corpus_gold_reward"]) <= max(0.1 * gap, 2.5 * sft["gold_reward_se"])


def test_lesson_8_quotes_the_principle_checks_choice(results):
    """Lesson 8's dev table (SFT gold, the SFT bar, RM skill and Spearman per seed, for each mix of fact and
    principle checks), its paired claims over seeds and the component means, computed here from the 24 committed
    summaries."""
    from nano_rlhf.stats import seed_claim
    runs = {c: [(results[f"fc{c[0]}pc{c[1]}s{s}sft"], results[f"fc{c[0]}pc{c[1]}s{s}rm"]) for s in range(3)]
            for c in CHECKS}
    default, full, half = (2560, 0), (2560, 2560), (1280, 1280)

    def cells(c, fmt, get):
        return " / ".join(format(get(sft, rm), fmt) for sft, rm in runs[c])
    want = []
    for c, name in zip(CHECKS, ("0 (the default)", "1,280", "2,560", "1,280, and 1,280 fact checks")):
        held = sum(sft_bar_held(sft) for sft, _ in runs[c])
        want.append(f"| {name} | {cells(c, '+.2f', lambda s, r: s['gold_reward'])} | {held} of 3 | "
                    f"{cells(c, '.3f', lambda s, r: r['skill_vs_ceiling'])} | "
                    f"{cells(c, '.2f', lambda s, r: r['gold_correlation']['spearman'])} |")

    def claim(c, i, name):
        get = (lambda sft, rm: sft["gold_reward"]) if i == 0 else (lambda sft, rm: rm["skill_vs_ceiling"])
        return seed_claim([get(*x) for x in runs[c]], [get(*x) for x in runs[default]], name, "no checks")
    gold, skill = claim(full, 0, "2,560 checks"), claim(full, 1, "2,560 checks")
    want += ["SFT gold, " + gold["text"], "RM skill, " + skill["text"],
             claim(half, 0, "1,280 of each")["text"]]

    def mean(c, k):
        return format(sum(sft["gold_components"][k] for sft, _ in runs[c]) / 3, "+.2f")
    want.append(f"`concise` {mean(full, 'concise')} against {mean(default, 'concise')}, `harmless` "
                f"{mean(full, 'harmless')} against {mean(default, 'harmless')}")
    readme = [f"gold 2,560 checks - no checks = {gold['diff']:+.3f} ± {gold['se']:.3f} over 3 seeds, the SFT bar "
              f"failing at every seed"]
    assert sum(sft_bar_held(sft) for sft, _ in runs[full]) == 0 and gold["beats"] and gold["diff"] < 0
    assert [sft_bar_held(sft) for sft, _ in runs[default]] == [True] * 3   # the choice: without them, the bar holds
    for doc, quotes in (("lessons/08-future.md", want), ("README.md", readme)):
        text = re.sub(r"\s+", " ", (ROOT / doc).read_text().replace("−", "-"))
        missing = [w.replace("−", "-") for w in quotes if w.replace("−", "-") not in text]
        assert not missing, f"{doc} no longer quotes lessons/results/principle_checks_dev/:\n" + "\n".join(missing)


def judge_chain_over_seeds(results) -> dict:
    """The judge-of-its-own chain and the human chain on the same SFT model, seeds 0-2: PPO's gold and gap closed
    and the RM's skill, each over seeds (stats.over_seeds), and the paired claim on PPO's gold (stats.seed_claim)."""
    from nano_rlhf.stats import over_seeds, seed_claim
    runs = {arm: [results[f"jc_{arm}{s or ''}"] for s in range(3)] for arm in ("rm", "ppo", "human_rm", "human_ppo")}
    out = {f"{arm}_{key}": over_seeds([r[key] for r in runs[arm]])
           for arm, key in (("ppo", "gold_reward_ppo"), ("ppo", "gold_gain_fraction"), ("human_ppo", "gold_reward_ppo"),
                            ("human_ppo", "gold_gain_fraction"), ("rm", "skill_vs_ceiling"),
                            ("human_rm", "skill_vs_ceiling"), ("ppo", "kl"), ("human_ppo", "kl"))}
    out["claim"] = seed_claim([r["gold_reward_ppo"] for r in runs["ppo"]],
                              [r["gold_reward_ppo"] for r in runs["human_ppo"]], "the judge's RM", "the human's RM")
    return out


def test_lesson_8_quotes_the_judge_of_its_own_over_seeds(results):
    """Lesson 8's and README's three-seed comparison of PPO on the judge-of-its-own RM with PPO on the human's labels
    from the same SFT model, computed here; the issue's bar for AI labels (25% of the gap at seed 0) holds, and every
    judge RM was trained on AI labels only."""
    m = judge_chain_over_seeds(results)

    def ms(key, fmt):
        return f"{m[key]['mean']:{fmt}} ± {m[key]['se']:{fmt.lstrip('+')}}"
    lesson = (f"Over seeds 0, 1 and 2 (the RM's and PPO's; one judge), PPO reaches gold {ms('ppo_gold_reward_ppo', '+.2f')}"
              f" ({m['ppo_gold_gain_fraction']['mean']:.0%} of the gap, KL {m['ppo_kl']['mean']:.2f}) on the judge's "
              f"labels against {ms('human_ppo_gold_reward_ppo', '+.2f')} "
              f"({m['human_ppo_gold_gain_fraction']['mean']:.0%}, KL {m['human_ppo_kl']['mean']:.2f}) on the "
              f"human's, with RM skill {ms('rm_skill_vs_ceiling', '.2f')} against "
              f"{ms('human_rm_skill_vs_ceiling', '.2f')}: {m['claim']['text']}.")
    readme = (f"over 3 seeds, gold {ms('ppo_gold_reward_ppo', '+.2f')} against {ms('human_ppo_gold_reward_ppo', '+.2f')}"
              f": {m['claim']['text']}")
    for doc, want in (("lessons/08-future.md", lesson), ("README.md", readme)):
        text = re.sub(r"\s+", " ", (ROOT / doc).read_text().replace("−", "-"))
        assert want in text, f"{doc} should say: {want}"
    assert results["jc_ppo"]["gold_gain_fraction"] >= 0.25          # the issue's bar for AI labels, seed 0
    for s in range(3):
        rm = results[f"jc_rm{s or ''}"]
        assert rm["labels"]["ai"] == rm["n_pairs"] and rm["labels"]["human"] == 0
