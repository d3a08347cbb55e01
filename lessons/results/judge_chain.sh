#!/usr/bin/env bash
# Lesson 8's judge of its own on the test split, from reproduce.sh's default SFT model: the SFT model fine-tuned on
# its data plus the principle checks (once) judges the untouched SFT model's samples (train_rm.py --judge), then PPO
# at its defaults on that RM; and the human chain on the same SFT model (the RM on the simulated human's labels,
# then PPO) to pair it with, at each of seeds 0, 1 and 2 (the RM's and PPO's). One process at a time, the default
# two threads, so the wall times compare. Copies the summaries to lessons/results/judge_chain/.
#     bash lessons/results/judge_chain.sh     # after reproduce.sh; ~25 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/results/judge_chain
C=lessons/results/judge_chain
mkdir -p $R/judge $C
cp runs/results/sft.pt $R/
python train_sft.py --init $R/sft.pt --principle-checks 2560 --max-steps 400 --warmup-steps 20 --lr 1e-3 \
    --out-dir $R/judge > $R/judge/sft.log
cp runs/results/sft_summary.json $C/sft.json
cp $R/judge/sft_summary.json $C/judge_sft.json
for s in 0 1 2; do
    d=$R/seed$s && mkdir -p $d/human && cp $R/sft.pt $d/ && cp $R/sft.pt $d/human/
    python train_rm.py --labeler ai --judge $R/judge/sft.pt --out-dir $d --seed $s > $d/rm.log
    python train_ppo.py --out-dir $d --seed $s > $d/ppo.log
    python train_rm.py --out-dir $d/human --seed $s > $d/human/rm.log
    python train_ppo.py --out-dir $d/human --seed $s > $d/human/ppo.log
    cp $d/rm_summary.json $C/rm_seed$s.json
    cp $d/ppo_summary.json $C/ppo_seed$s.json
    cp $d/human/rm_summary.json $C/human_rm_seed$s.json
    cp $d/human/ppo_summary.json $C/human_ppo_seed$s.json
done
