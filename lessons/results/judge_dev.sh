#!/usr/bin/env bash
# Lesson 8's judge of its own, chosen on the dev split (seed 0, after principle_checks_dev.sh): the default SFT
# model fine-tuned for 400 steps on its data plus the principle checks is the judge (train_rm.py --judge) of the
# untouched SFT model's samples, against the SFT model trained from scratch with the checks judging its own.
# One thread per process, as principle_checks_dev.sh. Copies the summaries to lessons/results/judge_dev/.
#     bash lessons/results/judge_dev.sh     # ~6 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
P=runs/principle_checks_dev
R=runs/judge_dev
C=lessons/results/judge_dev
mkdir -p $R/finetune $R/own $R/scratch $C
python train_sft.py --init $P/fc2560_pc0_seed0/sft.pt --principle-checks 2560 --max-steps 400 --warmup-steps 20 \
    --lr 1e-3 --out-dir $R/finetune --eval-split dev --threads 1 > $R/finetune/sft.log
cp $P/fc2560_pc0_seed0/sft.pt $R/own/
python train_rm.py --labeler ai --judge $R/finetune/sft.pt --out-dir $R/own --eval-split dev --threads 1 > $R/own/rm.log
cp $P/fc2560_pc2560_seed0/sft.pt $R/scratch/
python train_rm.py --labeler ai --out-dir $R/scratch --eval-split dev --threads 1 > $R/scratch/rm.log
cp $R/finetune/sft_summary.json $C/judge_sft.json
cp $R/own/rm_summary.json $C/judge_of_its_own_rm.json
cp $R/scratch/rm_summary.json $C/self_judging_rm.json
