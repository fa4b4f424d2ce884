#!/usr/bin/env bash
# The GPU sweep: proxy training speed on wgpu at RegMix's proxy shape (2 layers, d_model 256, 8 heads,
# SwiGLU 512) and vocabulary 50,304, with P = 1, 4, 16, 64 proxies stacked into one model; tokens/s of
# all P together and the ratio to P = 1; then the same proxy in PyTorch on CUDA when torch sees a GPU
# (one proxy per process, as published pipelines train them).
#
#   bash bench/gpu_sweep.sh                  # builds remix (release) if REMIX is not set
#   REMIX=target/release/remix PARALLEL=1,4 STEPS=5 bash bench/gpu_sweep.sh
#
# Where wgpu's only adapter is a CPU one (Mesa's lavapipe on a machine without a GPU) it runs the same
# sweep small (P = 1, 2; 2 x 32-token batches; 3 steps: lavapipe's 128 MiB buffer limit holds the head
# weights of two proxies at this vocabulary, not four), so that it finishes in about a minute; the
# figures then say only that the GPU code path works. Settings: PARALLEL, STEPS, BATCH, CONTEXT. A stack
# that does not fit (out of memory, or a buffer past the adapter's binding limit: the head weights or
# logits of P proxies are one tensor) shows as failed, with remix's error.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REMIX:-}" ]; then
  cargo build --release --locked --quiet
  REMIX="${CARGO_TARGET_DIR:-target}/release/remix"
fi

devices=$("$REMIX" devices --json)
auto=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["auto"]["device"])' <<<"$devices")
if [ "$auto" = wgpu ]; then
  PARALLEL="${PARALLEL:-1,4,16,64}" STEPS="${STEPS:-10}" BATCH="${BATCH:-16}" CONTEXT="${CONTEXT:-256}"
else
  echo "no GPU adapter: a small sweep on the software adapter (the GPU code path, not GPU figures)"
  PARALLEL="${PARALLEL:-1,2}" STEPS="${STEPS:-3}" BATCH="${BATCH:-2}" CONTEXT="${CONTEXT:-32}"
fi
"$REMIX" devices

shape=(--vocab-size 50304 --layers 2 --d-model 256 --heads 8 --ffn-hidden 512
       --context "$CONTEXT" --batch-size "$BATCH" --steps "$STEPS")
log=$(mktemp)
status=0
"$REMIX" bench train --device wgpu "${shape[@]}" --parallel "$PARALLEL" >"$log.out" 2>"$log" || status=$?

echo
echo "remix bench train --device wgpu ${shape[*]} --parallel $PARALLEL"
printf '%6s  %12s  %8s\n' P tokens/s "vs P=1"
IFS=, read -ra sizes <<<"1,${PARALLEL}"
seen=" "
rates=()
# Each line: "<tokens/s> tokens/s (...)"; the first field is the rate.
while read -r rate _; do rates+=("$rate"); done <"$log.out"
i=0
for p in "${sizes[@]}"; do
  case "$seen" in *" $p "*) continue ;; esac
  seen="$seen$p "
  if [ "$i" -lt "${#rates[@]}" ]; then
    printf '%6s  %12s  %8s\n' "$p" "${rates[$i]}" \
      "$(python3 -c "print(f'{${rates[$i]}/${rates[0]}:.2f}x')")"
  else
    printf '%6s  %12s\n' "$p" "failed"
  fi
  i=$((i + 1))
done
if [ "$status" -ne 0 ]; then
  echo "remix stopped with status $status:"
  sed 's/^/  /' "$log"
fi
rm -f "$log" "$log.out"

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo
  echo "PyTorch $(python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'), one proxy:"
  python3 bench/train_pytorch.py --device cuda "${shape[@]}"
else
  echo
  echo "PyTorch twin not run: torch does not see a CUDA GPU here"
fi
exit "$status"
