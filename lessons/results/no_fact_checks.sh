#!/usr/bin/env bash
# Lessons 3 and 4: the same chain without the SFT data's fact checks (the same demonstrations, seen as often), its RM
# over seeds 0, 1, 2 and rm_limits.py on seed 0, on the test split. Copies the summaries to lessons/results/.
#     bash lessons/results/no_fact_checks.sh     # ~6 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results/no_fact_checks
mkdir -p $R
python train_sft.py --out-dir $R --fact-checks 0 --max-steps 700 > $R/sft.log
cp $R/sft_summary.json lessons/results/sft_no_fact_checks.json
for s in 0 1 2; do
    mkdir -p $R/seed$s && cp $R/sft.pt $R/seed$s/
    python train_rm.py --out-dir $R/seed$s --seed $s > $R/seed$s/rm.log
    cp $R/seed$s/rm_summary.json lessons/results/rm_no_fact_checks_seed$s.json
done
cp $R/seed0/rm.pt $R/
python lessons/experiments/rm_limits.py --out-dir $R > lessons/results/rm_limits_no_fact_checks.txt
