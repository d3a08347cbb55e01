#!/usr/bin/env bash
# Lesson 3's SFT over seeds 1 and 2 (seed 0 is reproduce.sh's sft.json), on the test split.
#     bash lessons/results/sft_seeds.sh          # ~4 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results
for s in 1 2; do
    python train_sft.py --out-dir $R/sft_seed$s --seed $s > $R/sft_seed$s.log
    cp $R/sft_seed$s/sft_summary.json lessons/results/sft_seed$s.json
done
