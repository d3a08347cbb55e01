#!/usr/bin/env bash
# Re-measure every number README.md and the lessons quote (tests/test_numbers.py checks the text against the
# summaries this copies here). One thread per process, two processes at a time (a 2-core machine: ~35 minutes).
# Reported numbers are on the test split; the choices they rest on (the beta grids) are on dev.
#     bash lessons/results/reproduce.sh            # writes runs/results/, then copies the summaries here
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
mkdir -p $R/seed1 $R/seed2
python train_sft.py --out-dir $R > $R/sft.log
python train_rm.py --out-dir $R > $R/rm.log
for s in 1 2; do cp $R/sft.pt $R/rm.pt $R/seed$s/; done
python train_ppo.py --out-dir $R > $R/ppo.log &
python train_ppo.py --out-dir $R/seed1 --seed 1 > $R/ppo_seed1.log
wait
python train_ppo.py --out-dir $R/seed2 --seed 2 > $R/ppo_seed2.log &
python train_dpo.py --out-dir $R > $R/dpo.log
python -m nano_rlhf.best_of_n --out-dir $R > $R/bon.log
wait
for f in sft rm ppo dpo bon; do cp $R/${f}_summary.json lessons/results/$f.json; done
for s in 1 2; do cp $R/seed$s/ppo_summary.json lessons/results/ppo_seed$s.json; done
# the frontier (and the over-optimisation fits, which reuse its runs): beta grids judged on dev, reported on test
python lessons/experiments/frontier.py --out-dir $R --eval-split dev --png lessons/experiments/frontier_dev.png > $R/frontier_dev.log &
python lessons/experiments/frontier.py --out-dir $R > $R/frontier.log
wait
python lessons/experiments/overoptimisation.py --out-dir $R > $R/overoptimisation.log
