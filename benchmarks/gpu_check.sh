#!/usr/bin/env bash
# The GPU check of benchmarks/RESULTS.md, in one go on a CUDA machine with PyTorch installed:
#   1. the paper-scale smoke DAG (config/paper_smoke.yaml: full-width ResNet-18 and the paper's
#      scorer, one epoch per training), timed job by job;
#   2. the tests that need a GPU (pytest -m gpu);
#   3. the scoring cost of every method on the GPU (bench_scoring.py --device cuda);
#   4. issue 15's figures: full ResNet-18 / CIFAR-10 training at batch 128 with the whole step
#      captured as one CUDA graph vs forward+loss compiled (bench_train.py --cuda-graph), exact
#      top-k on the device vs the sort (bench_topk.py), the paper scorer's inference in weights/s
#      (bench_scorer.py --device cuda).
# Usage, from the repository root:
#   AUTOSPARSE_DATA=<data root> bash benchmarks/gpu_check.sh <out dir>
# Wheels in .whl/ (packages the machine lacks: snakemake, zarr, ...) are installed to /tmp/site
# first; PARTS (default "dag tests bench speed") picks the parts, DAG_LIMIT / TEST_LIMIT /
# BENCH_LIMIT / SPEED_LIMIT cap each in seconds.
set -u
OUT=${1:-gpu-check}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! command -v python >/dev/null; then  # the rules call `python`
  mkdir -p /tmp/pybin && printf '#!/bin/sh\nexec python3 "$@"\n' >/tmp/pybin/python
  chmod +x /tmp/pybin/python && export PATH=/tmp/pybin:$PATH
fi
PARTS=${PARTS:-dag tests bench speed}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # benchmarks/*.py import autosparse
export PYTHONUNBUFFERED=1 AUTOSPARSE_CACHE=${AUTOSPARSE_CACHE:-/tmp/autosparse-cache}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc
  python -c "import torch, zarr, snakemake; print('torch', torch.__version__, 'zarr', \
zarr.__version__, 'snakemake', snakemake.__version__)"
} 2>&1 | tee "$OUT/summary.txt"

if [[ " $PARTS " == *" dag "* ]]; then
t0=$(date +%s)
timeout "${DAG_LIMIT:-360}" python -m snakemake --cores "$(nproc)" results/table4.csv \
  --resources gpu=1 --scheduler greedy --keep-going \
  --configfile config/paper.yaml config/paper_smoke.yaml >"$OUT/dag.log" 2>&1
echo "paper_smoke DAG: rc $? wall $(($(date +%s) - t0)) s" | tee -a "$OUT/summary.txt"
tar czf "$OUT/dag_results.tgz" results/table4.csv results/table4.md results/logs \
  results/benchmarks results/metrics 2>/dev/null
fi

if [[ " $PARTS " == *" tests "* ]]; then
t0=$(date +%s)
timeout "${TEST_LIMIT:-240}" python -m pytest -q -p no:cacheprovider -m gpu \
  tests/test_prune_cli.py tests/test_autos.py tests/test_train.py tests/test_topk.py >"$OUT/pytest_gpu.log" 2>&1
echo "pytest -m gpu: rc $? wall $(($(date +%s) - t0)) s; $(tail -1 "$OUT/pytest_gpu.log")" |
  tee -a "$OUT/summary.txt"
fi

if [[ " $PARTS " == *" bench "* ]]; then
t0=$(date +%s)
timeout "${BENCH_LIMIT:-90}" python benchmarks/bench_scoring.py --device cuda \
  --models resnet18 resnet20 --measured-rounds resnet18=10 resnet20=10 --methods snip random \
  magnitude magnitude_after_training grasp synflow iter_snip px ntk_sap npb \
  >"$OUT/bench_scoring.log" 2>&1
echo "bench_scoring --device cuda: rc $? wall $(($(date +%s) - t0)) s" | tee -a "$OUT/summary.txt"
fi

if [[ " $PARTS " == *" speed "* ]]; then
t0=$(date +%s)
{
  timeout "${SPEED_LIMIT:-240}" python benchmarks/bench_train.py --case resnet18_cifar \
    --device cuda --width 1 --epochs 2 --compile --cuda-graph --skip-naive
  timeout 60 python benchmarks/bench_topk.py --repeats 5 --no-cpu  # CPU figures: RESULTS.md
  timeout 90 python benchmarks/bench_scorer.py --device cuda
} >"$OUT/bench_speed.log" 2>&1
echo "speed (train graph, top-k, scorer): rc $? wall $(($(date +%s) - t0)) s" |
  tee -a "$OUT/summary.txt"
fi
