#!/bin/bash
# usage: tools/experiments/ablation.sh NAME CONFIG   (e.g. sft configs/ablation_denoise_sft.json)
# concat vs SFT vs both: three 1,000-step denoise runs from scratch, same config and seed
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python
name=$1; cfg=$2
mkdir -p runs/abl
$PY -m app.training $cfg --data ../shared/data/train --out runs/abl/$name --threads 1 > runs/abl/$name.train.out 2>&1
$PY -m app.training.export runs/abl/$name --id ablation-$name --task denoise --models /tmp/abl --no-manifest > runs/abl/$name.export.out 2>&1
$PY -m app.evaluation.vdir --model /tmp/abl/ablation-$name.safetensors --data ../shared/data/test/CBSD68 --sigma 25 30 --threads 1 > runs/abl/$name.eval.txt 2>&1
echo done $name
