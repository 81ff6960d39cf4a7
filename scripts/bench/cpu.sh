#!/usr/bin/env bash
# One line naming the machine a benchmark ran on (to stderr): only ratios measured within one
# run compare, and the CPU changes between machines (AVX2 only, or AVX-512 BF16 and AMX).
# Used by every scripts/bench-*.sh.
model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
flags=$(grep -o -w -E 'avx512_bf16|amx_tile|avx512f|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "cpu: ${model:-unknown}, $(nproc) cores, flags: ${flags:-none}; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
