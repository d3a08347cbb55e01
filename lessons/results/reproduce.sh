#!/usr/bin/env bash
# Re-measure every number README.md and the lessons quote (tests/test_numbers.py checks the text against the
# summaries this copies here). One process at a time with the default two threads (a 2-core machine: ~43 minutes
# for the stages and the frontier, plus 20-30 minutes for each three-seed experiment of lessons 5 and 6).
# Reported numbers are on the test split; the choices they rest on (the beta grids) are on dev.
#     bash lessons/results/reproduce.sh            # writes runs/results/, then copies the summaries here
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
mkdir -p $R/seed1 $R/seed2
# the three plain commands, timed (bench/pipeline.py: each stage's log is $R/<stage>.log, its profile in the summary)
python bench/pipeline.py --out-dir $R > $R/pipeline.log
for s in 1 2; do cp $R/sft.pt $R/rm.pt $R/seed$s/; done
python train_ppo.py --out-dir $R/seed1 --seed 1 > $R/ppo_seed1.log
python train_ppo.py --out-dir $R/seed2 --seed 2 > $R/ppo_seed2.log
python train_dpo.py --out-dir $R > $R/dpo.log
python -m nano_rlhf.best_of_n --out-dir $R > $R/bon.log
for f in sft rm ppo dpo bon; do cp $R/${f}_summary.json lessons/results/$f.json; done
for s in 1 2; do cp $R/seed$s/ppo_summary.json lessons/results/ppo_seed$s.json; done
# lesson 6's remedies over three seeds: reward-model ensembles (three bootstrap RMs, then PPO on each aggregate),
# iterated RLHF (two rounds of new labels on the policy's samples), a curriculum (its uniform arm retrains PPO's
# default runs in the experiments folder); lesson 5's dense rewards (terminal vs sentence-level: PPO, PPO with a
# scratch critic, GRPO). The frontier below reuses the ensemble members and seed 0's iterated rounds.
python lessons/experiments/ensembles.py --out-dir $R --seeds 0 1 2 --aggregates mean min lcb --leash > $R/ensembles.log
python lessons/experiments/iterated_rlhf.py --out-dir $R --seeds 0 1 2 > $R/iterated_rlhf.log
python lessons/experiments/curriculum.py --out-dir $R --seeds 0 1 2 > $R/curriculum.log
python lessons/experiments/dense_reward.py --out-dir $R --seeds 0 1 2 > $R/dense_reward.log
# lesson 8's AI feedback and semi-supervised labels: the judge is an SFT model trained with principle checks
# (trained in the experiments folder when $R/sft.pt has none), every RM arm at four label fractions, PPO on five
python lessons/experiments/rlaif.py --out-dir $R --seeds 0 1 2 > $R/rlaif.log
cp $R/experiments/sft_principles/sft_summary.json lessons/results/sft_principles.json
# the frontier (and the over-optimisation fits, which reuse its runs): beta grids judged on dev, reported on test
python lessons/experiments/frontier.py --out-dir $R --eval-split dev --png lessons/experiments/frontier_dev.png > $R/frontier_dev.log
python lessons/experiments/frontier.py --out-dir $R > $R/frontier.log
python lessons/experiments/overoptimisation.py --out-dir $R > $R/overoptimisation.log
