#!/usr/bin/env bash
# Lesson 8's judge of its own on the test split, seed 0, from reproduce.sh's default SFT model: the SFT model
# fine-tuned on its data plus the principle checks judges the untouched SFT model's samples (train_rm.py --judge),
# then PPO at its defaults on that RM; and the human chain on the same SFT model (the RM on the simulated human's
# labels, then PPO) to pair it with. One process at a time, the default two threads, so the wall times compare.
# Copies the summaries to lessons/results/judge_chain/.
#     bash lessons/results/judge_chain.sh     # after reproduce.sh; ~9 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results/judge_chain
C=lessons/results/judge_chain
mkdir -p $R/judge $R/human $C
cp runs/results/sft.pt $R/
cp runs/results/sft.pt $R/human/
python train_sft.py --init $R/sft.pt --principle-checks 2560 --max-steps 400 --warmup-steps 20 --lr 1e-3 \
    --out-dir $R/judge > $R/judge/sft.log
python train_rm.py --labeler ai --judge $R/judge/sft.pt --out-dir $R > $R/rm.log
python train_ppo.py --out-dir $R > $R/ppo.log
python train_rm.py --out-dir $R/human > $R/human/rm.log
python train_ppo.py --out-dir $R/human > $R/human/ppo.log
cp runs/results/sft_summary.json $C/sft.json
cp $R/judge/sft_summary.json $C/judge_sft.json
cp $R/rm_summary.json $C/rm.json
cp $R/ppo_summary.json $C/ppo.json
cp $R/human/rm_summary.json $C/human_rm.json
cp $R/human/ppo_summary.json $C/human_ppo.json
