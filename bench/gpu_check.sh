#!/usr/bin/env bash
# The prepared GPU check: one command, about 5 minutes on one H100/H200, nothing beyond a PyTorch GPU image.
#
#     PYTHONPATH=. bash bench/gpu_check.sh [OUT]          # on the GPU machine, from the repository root
#     bash bench/gpu_check.sh --dry-run [OUT]             # the same stages on CPU at toy sizes (seconds; tested)
#
# Each stage appends one row to OUT/gpu_check.md (default OUT: runs/gpu_check) as it finishes, so a run cut short
# by a time limit still leaves the rows of the stages it finished; each stage's full output is OUT/<stage>.log.
# Stages:
#   env     torch, CUDA and the device
#   sft rm ppo grpo   the training chain at --preset gpu, shortened to fit (fewer steps, prompts and iterations;
#           the presets' model, batch and bf16 path unchanged), each with its held-out gold and its wall time
#   train   bench/train.py: tokens/s and MFU of SFT steps for the default and gpu models and a GPT-2-small-sized one,
#           fp32 and bf16, explicit attention and SDPA, and torch.compile (the peak it assumes: printed in the log)
#   ppo     bench/ppo.py at a gpu setting: 256 prompts x 64 new tokens, the four models
#   sdpa    bench/sdpa_check.py: which fused attention kernel runs with the RL stages' padding mask, and its cost
#   bf16    bench/bf16_check.py: does PPO's first ratio start at 1 under bf16 on this GPU, where kernels may change
#           with the batch's shape (score's full pass vs update's minibatches)
# A stage that fails or runs out of its time is a FAILED row; the others still run. Exit code: the failed stages.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:-.}"
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
OUT="${1:-runs/gpu_check}"
mkdir -p "$OUT/chain" || { echo "error: cannot create $OUT/chain: pass another folder" >&2; exit 2; }
TABLE="$OUT/gpu_check.md"
failed=0

if (( DRY )); then     # CPU, toy sizes: the plumbing, not the numbers
    DEV=(--device cpu); PRESET=(--preset test); SHORT_SFT=(); SHORT_RM=(); SHORT_PPO=(); SHORT_GRPO=(); LIMIT=120
    TRAIN=(--device cpu --presets default --repeats 1 --warmup 0 --peak-tflops 1)
    PPO=(--device cpu --batch 4 --new-tokens 8 --repeats 1 --warmup 0)
    BF16=(--device cpu --preset default --batch 8 --new-tokens 8)
    SDPA=(--device cpu --batch 4 --repeats 1)
else
    DEV=(--device cuda); PRESET=(--preset gpu); LIMIT=150
    SHORT_SFT=(--max-steps 600); SHORT_RM=(--n-prompts 2000); SHORT_PPO=(--iterations 30 --eval-interval 10)
    SHORT_GRPO=(--iterations 30 --eval-interval 10)
    TRAIN=(--device cuda --presets default gpu gpt2-124m --compile)
    PPO=(--device cuda --batch 256 --new-tokens 64 --naive-width 96)
    BF16=(--device cuda)
    SDPA=(--device cuda)
fi

echo "| stage | status | seconds | result |" > "$TABLE"
echo "|---|---|---|---|" >> "$TABLE"

# the headline of a training stage's summary (its held-out gold, KL or accuracy, and wall time)
HEADLINE='import json, sys
s = json.load(open(sys.argv[1]))
keys = [k for k in ("gold_reward", "gold_reward_sft", "gold_reward_ppo", "gold_reward_grpo", "kl", "val_accuracy",
                    "skill_vs_ceiling", "wall_seconds") if isinstance(s.get(k), (int, float))]
print("; ".join(f"{k} {s[k]:.3f}" for k in keys))'

# stage NAME SUMMARY-or-"-" COMMAND...: run it with the time limit, then append its row
stage() {
    local name=$1 summary=$2; shift 2
    local t0=$SECONDS rc status result
    timeout "$LIMIT" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    if (( rc == 0 )); then status=ok; elif (( rc == 124 )); then status="FAILED (over ${LIMIT} s)"; else
        status="FAILED (exit $rc)"; fi
    (( rc == 0 )) || failed=$((failed + 1))
    if [[ "$summary" != "-" && -f "$summary" && rc -eq 0 ]]; then
        result=$(python -c "$HEADLINE" "$summary" 2>&1 | tail -1)
    else
        result=$(grep -v '^[[:space:]]*$' "$OUT/$name.log" | tail -1 | cut -c1-200)
    fi
    echo "| $name | $status | $((SECONDS - t0)) | ${result//|//} |" >> "$TABLE"
    echo "[$name] $status"
}

stage env - python -c 'import torch; c = torch.cuda.is_available(); print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, " + (f"{torch.cuda.get_device_name()}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}" if c else "no GPU"))'
stage sft "$OUT/chain/sft_summary.json" python train_sft.py "${PRESET[@]}" "${DEV[@]}" --out-dir "$OUT/chain" "${SHORT_SFT[@]}"
stage rm "$OUT/chain/rm_summary.json" python train_rm.py "${PRESET[@]}" "${DEV[@]}" --out-dir "$OUT/chain" "${SHORT_RM[@]}"
stage ppo "$OUT/chain/ppo_summary.json" python train_ppo.py "${PRESET[@]}" "${DEV[@]}" --out-dir "$OUT/chain" "${SHORT_PPO[@]}"
stage grpo "$OUT/chain/grpo_summary.json" python train_grpo.py "${PRESET[@]}" "${DEV[@]}" --out-dir "$OUT/chain" "${SHORT_GRPO[@]}"
stage train - python bench/train.py "${TRAIN[@]}"
stage ppo_bench - python bench/ppo.py "${PPO[@]}"
stage sdpa - python bench/sdpa_check.py "${SDPA[@]}"
stage bf16 - python bench/bf16_check.py "${BF16[@]}"
echo "wrote $TABLE ($failed failed)"
exit "$failed"
