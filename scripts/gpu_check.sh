#!/usr/bin/env bash
# The whole GPU validation of fastgen in one run, for a GPU machine that has torch, triton, nvcc,
# pytest and pytest-benchmark but no package index:
#
#     scripts/gpu_check.sh OUTDIR
#
# Phases (each under `timeout`, its output in OUTDIR/<phase>.log; a failing phase does not stop
# the later ones): the environment, `pip install --no-build-isolation --no-deps .` for the visible
# GPU's arch, `fastgen info`, `fastgen selftest`, `pytest -m cuda`, the op tests' cuda and triton
# rows (the CUDA-graph capture tests among `-m cuda`), the op benchmarks' GPU rows
# (OUTDIR/bench.json), the whole training steps against plain PyTorch (train-bench),
# bench/profile_dispatch.py and bench/profile_steps.py, op and training steps (profile.log), and
# `scripts/triton_aot.py --quick`.
# OUTDIR/summary.txt lists every phase with its status and time. The run stays within
# TOTAL_SECONDS (default 540, 9 minutes): a phase gets at most its own cap and what is left,
# and a phase no time is left for fails as such. SKIP="aot bench" leaves phases out. Exit status: 0 when every phase passed, 1 otherwise
# (2 for a usage error). Without a visible GPU the GPU phases are skipped (not failed), so the
# script can be dry-run anywhere.
#
# The package is installed with pip (what a user does; the fastgen commands run from OUTDIR use it)
# and the same build is then linked into the source tree (`setup.py build_ext --inplace` reuses
# pip's objects in ./build), because pytest run from the repository imports ./fastgen.
set -u

if [ $# -ne 1 ]; then
    echo "usage: scripts/gpu_check.sh OUTDIR" >&2
    exit 2
fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" || { echo "gpu_check: OUTDIR $1 cannot be created" >&2; exit 2; }
OUT=$(cd "$1" && pwd)
PYTHON=${PYTHON:-python}
TOTAL_SECONDS=${TOTAL_SECONDS:-540}
SKIP=${SKIP:-}
START=$SECONDS
SUMMARY="$OUT/summary.txt"
FAILED=0
: > "$SUMMARY"

GPU_ARCH=$("$PYTHON" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability() if torch.cuda.is_available() else "")' 2>/dev/null)

# phase NAME CAP_SECONDS NEEDS_GPU(0|1) COMMAND...: run COMMAND in the repository under a timeout
# of min(CAP, time left), log to OUT/NAME.log, record the outcome in the summary.
phase() {
    local name=$1 cap=$2 needs_gpu=$3
    shift 3
    local left=$((TOTAL_SECONDS - (SECONDS - START)))
    local limit=$((cap < left ? cap : left))
    local log="$OUT/$name.log" status began=$SECONDS rc
    if [[ " $SKIP " == *" $name "* ]]; then
        status="skipped (SKIP)"
    elif [ "$needs_gpu" = 1 ] && [ -z "$GPU_ARCH" ]; then
        status="skipped (no GPU visible)"
    elif [ "$limit" -lt 10 ]; then
        status="FAILED (no time left of the ${TOTAL_SECONDS} s budget)"
        FAILED=1
    else
        echo "== $name (up to ${limit} s): $*" | tee "$log"
        (cd "$REPO" && timeout --kill-after=10 "$limit" "$@") >> "$log" 2>&1
        rc=$?
        if [ "$rc" = 0 ]; then
            status="ok"
        elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            status="FAILED (timed out after ${limit} s)"
            FAILED=1
        else
            status="FAILED (exit $rc)"
            FAILED=1
        fi
        tail -n 3 "$log" | sed "s/^/    /"
    fi
    printf '%-10s %-40s %4d s\n' "$name" "$status" $((SECONDS - began)) | tee -a "$SUMMARY"
}

# Runs the fastgen command of the installed package (from OUT, so that ./fastgen does not shadow it).
installed_fastgen() { (cd "$OUT" && "$PYTHON" -m fastgen "$@"); }

environment() {
    nvidia-smi || echo "(no nvidia-smi)"
    "$PYTHON" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())' || return 1
    "$PYTHON" -c 'import triton; print("triton", triton.__version__)' || echo "(triton not importable)"
    "$PYTHON" -c 'import setuptools; print("setuptools", setuptools.__version__, "(pyproject needs >= 77)")'
    command -v nvcc && nvcc --version | tail -n 2
    echo "GPU arch: ${GPU_ARCH:-none}"
}

install() {
    export MAX_JOBS=16 FASTGEN_CUDA=1 TORCH_CUDA_ARCH_LIST="$GPU_ARCH"
    local check='import fastgen, fastgen.backends as b; print(fastgen.__file__, b.available_backends()); assert "cuda" in b.available_backends(), "no usable cuda backend"'
    "$PYTHON" -m pip install --no-build-isolation --no-deps --no-index -v . &&
        (cd "$OUT" && "$PYTHON" -c "$check") &&
        "$PYTHON" setup.py build_ext --inplace &&
        "$PYTHON" -c "$check"
}

# The registered ops' benchmark files (bench/ops.py enumerates the op registry).
OP_BENCHMARKS=$(cd "$REPO" && "$PYTHON" -m bench.ops 2>/dev/null | tr '\n' ' ')

export -f installed_fastgen environment install
export PYTHON OUT GPU_ARCH

echo "fastgen GPU check: $REPO -> $OUT (GPU arch ${GPU_ARCH:-none}, budget ${TOTAL_SECONDS} s)"
phase environment 60 0 bash -c environment
phase install 300 1 bash -c install
phase info 30 1 bash -c 'installed_fastgen info'
phase selftest 120 1 bash -c 'installed_fastgen selftest'
# (CUDA-graph capture of the random ops and a reduce-overhead compilation among them: 150 s)
phase cuda-tests 150 1 "$PYTHON" -m pytest -q -m cuda tests/
phase op-tests 180 1 "$PYTHON" -m pytest -q tests/ops -k "cuda or triton"
# Every row of the registered ops' benchmarks runs on the GPU: eager and compiled references, cuda, triton;
# then the item-5 comparisons timed interleaved (bench_side_by_side.py: its table ends the log).
phase bench 200 1 \
    "$PYTHON" -m pytest -q $OP_BENCHMARKS \
    bench/bench_side_by_side.py --benchmark-only --benchmark-json "$OUT/bench.json"
# Where the step time goes: host µs per dispatch layer, and kernel time vs latency per provider.
# Whole training steps: fastgen (eager and captured as one CUDA graph) against the plain
# pytorch/examples loop and the tuned one, timed interleaved, each provider in a process of its
# own (bench/processes.py: four CUDA contexts start per row; its table ends the log).
phase train-bench 180 1 "$PYTHON" -m pytest -q bench/bench_train_vs_plain.py --benchmark-only
phase profile 120 1 bash -c '"$PYTHON" -m bench.profile_dispatch && "$PYTHON" -m bench.profile_steps && "$PYTHON" -m bench.profile_steps --training --steps 20'
# Last: it needs no GPU (CI runs it too), but on the GPU machine it checks the installed triton.
phase aot 90 0 "$PYTHON" scripts/triton_aot.py --quick

echo "total $((SECONDS - START)) s" | tee -a "$SUMMARY"
if [ "$FAILED" != 0 ]; then
    echo "gpu_check: some phases FAILED (see $SUMMARY and the logs in $OUT)" | tee -a "$SUMMARY"
fi
exit "$FAILED"
