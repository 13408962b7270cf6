// FASTGEN_CPU_CLONES: compile a hot CPU loop for AVX-512, AVX2+FMA and baseline x86-64, and
// pick one at load time (GCC/Clang function multiversioning). The extension is built once for
// every x86-64 machine, so -march=native is not an option.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define FASTGEN_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTGEN_CPU_CLONES
#endif
