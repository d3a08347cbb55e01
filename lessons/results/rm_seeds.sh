#!/usr/bin/env bash
# Lesson 4's RM table over seeds 1 and 2 (seed 0 is reproduce.sh's rm.json) and rm_limits.py, on the test split.
#     bash lessons/results/rm_seeds.sh            # after reproduce.sh; ~4 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
for s in 1 2; do mkdir -p $R/rm_seed$s && cp $R/sft.pt $R/rm_seed$s/; done
python train_rm.py --out-dir $R/rm_seed1 --seed 1 > $R/rm_seed1/log.txt
python train_rm.py --out-dir $R/rm_seed2 --seed 2 > $R/rm_seed2/log.txt
for s in 1 2; do cp $R/rm_seed$s/rm_summary.json lessons/results/rm_seed$s.json; done
python lessons/experiments/rm_limits.py --out-dir $R > lessons/results/rm_limits.txt
