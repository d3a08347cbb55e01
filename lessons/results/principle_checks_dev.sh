#!/usr/bin/env bash
# Lesson 8's choice, on the dev split: should the judge's principle checks join the default SFT data? Three SFT
# seeds x {0, 1280, 2560} principle checks (the demonstrations, fact checks and 1,400 steps unchanged), each SFT
# model's human-label RM at the same seed, both reported on dev. One thread per process, so two of these can run
# side by side on a 2-core machine with the same numbers (the wall times then do not compare with the 2-thread
# defaults). Copies each summary to lessons/results/principle_checks_dev/; tests/test_numbers.py computes the means
# and paired differences lesson 8 quotes.
#     bash lessons/results/principle_checks_dev.sh     # ~55 minutes on 2 cores, one run at a time
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/principle_checks_dev
C=lessons/results/principle_checks_dev
mkdir -p $C
for n in 0 1280 2560; do
    for s in 0 1 2; do
        d=$R/pc${n}_seed$s && mkdir -p $d
        python train_sft.py --out-dir $d --seed $s --principle-checks $n --eval-split dev --threads 1 > $d/sft.log
        python train_rm.py --out-dir $d --seed $s --eval-split dev --threads 1 > $d/rm.log
        cp $d/sft_summary.json $C/pc${n}_seed${s}_sft.json
        cp $d/rm_summary.json $C/pc${n}_seed${s}_rm.json
    done
done
