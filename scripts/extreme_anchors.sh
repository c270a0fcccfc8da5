#!/usr/bin/env bash
# Live classical anchors at extreme rates on Kodak, each at several downscaling factors (codec eval --codec NAME@S):
# the input of scripts/extreme_rate_table.py. One JSON per anchor and scale in OUT (default runs/eval/extreme).
#   bash scripts/extreme_anchors.sh [OUT] [JOBS]
set -euo pipefail
out=${1:-runs/eval/extreme}
jobs=${2:-2}
kodak=../shared/datasets/kodak
codec=${CODEC:-.venv/bin/codec}
mkdir -p "$out"
declare -A qualities=(
  [jpeg]="1 2 3 5 8 12 16 20 30"
  [webp]="0 2 5 10 15 20 30 40"
  [avif]="0 5 10 15 20 25 30 40"
  [x265]="51 49 47 45 43 41 39 37 35"
)
for anchor in jpeg webp avif x265; do
  for scale in 1 0.75 0.5 0.375 0.25; do
    name=$anchor; [ "$scale" = 1 ] || name="$anchor@$scale"
    [ -s "$out/$name.json" ] && continue
    # shellcheck disable=SC2086
    "$codec" eval --codec "$name" --quality ${qualities[$anchor]} --dataset "$kodak" --out "$out/$name.json" \
      --no-lpips --jobs "$jobs"
  done
done
