#!/usr/bin/env python3
"""Build FlashMLA's Hopper dense *and* sparse (fp8, DeepSeek-V3.2 layout) MLA decode into an importable `flash_mla`.

Why: issue 14 sets the sparse top-k decode a target against its floor; FlashMLA's sm_90 sparse decode is the
reference kernel for exactly that case (656-byte fp8 rows, 64 or 128 heads, topk indices into a paged pool), so the
`--peers` benchmark times it beside ours. `../shared/peers/build_flashmla.py` builds only the dense decode: its
3-line binding exposes `dense_decode_fwd`. This script builds from the same tarball (FlashMLA commit 9241ae3, MIT;
CUTLASS headers, BSD-3), nothing of it is copied into this repository:
- a binding of our own exposing `dense_decode_fwd` and `sparse_decode_fwd` (FlashMLA's own interface functions);
- FlashMLA's `sparse_decode.h` also dispatches to sm_100 kernels, whose sources the tarball does not hold. Two stub
  headers declare those entry points and raise if reached; on sm_90 FlashMLA's dispatch never reaches them;
- the sparse instantiations: V32 (576-dim rows) and MODEL1 at 64 and 128 heads (MODEL1 only because FlashMLA's
  dispatch names it; the benchmark uses V32).

On the GPU machine (device call with carry [".peers"], after `cp -r ../shared/peers .peers` here once):
    python3 bench/build_flashmla_sparse.py --site /tmp/site && export PYTHONPATH=/tmp/site
    python3 -c "import flash_mla.cuda as c; print(c.sparse_decode_fwd)"
About 2-3 minutes on 16 cores (each sparse instantiation compiles in ~40 s on one core). `--check` compiles only
the binding on this machine (no GPU, no link): nvcc and torch's headers are enough.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

BINDING = """\
#include <pybind11/pybind11.h>
#include "dense_decode.h"
#include "sparse_decode.h"
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("dense_decode_fwd", &dense_attn_decode_interface);
    m.def("sparse_decode_fwd", &sparse_attn_decode_interface);
}
"""

# FlashMLA's sparse_decode.h includes these two sm_100 headers; their kernels are not in the tarball. Same names and
# call shapes as FlashMLA's dispatch uses them; reached only on an sm_100 GPU.
STUB_HEAD64 = """\
#pragma once
#include <stdexcept>
#include "params.h"
namespace sm100::decode::head64 {
template <ModelType M, typename P> void run_flash_splitkv_mla_fp8_sparse_kernel(const P &) {
    throw std::runtime_error("this flash_mla build holds only the sm_90 kernels");
}
}
"""
STUB_HEAD128 = """\
#pragma once
#include <stdexcept>
#include "params.h"
namespace sm100::fwd_for_small_topk::head128 {
template <SparseAttnFwdMode MODE, int D, typename P> void run_fwd_for_small_topk_phase1_kernel(const P &) {
    throw std::runtime_error("this flash_mla build holds only the sm_90 kernels");
}
}
"""

FLAGS = ["-O3", "-std=c++20", "-DNDEBUG", "-Wno-deprecated-declarations", "-DFLASH_MLA_DISABLE_FP16"]
CUDA_FLAGS = FLAGS + ["-D_USE_MATH_DEFINES", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
                      "-U__CUDA_NO_HALF2_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
                      "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "--threads", "4"]


def unpack(src: str) -> str:
    """The tarball extracted into a fresh folder, with the binding and the stub headers written beside it."""
    work = tempfile.mkdtemp(prefix="flashmla-sparse-")
    with tarfile.open(src) as t:
        t.extractall(work)
    fm = os.path.join(work, "fm")
    with open(os.path.join(fm, "api_peers.cpp"), "w") as f:
        f.write(BINDING)
    for rel, text in (("stubs/sm100/decode/head64/kernel.h", STUB_HEAD64),
                      ("stubs/sm100/prefill/sparse/fwd_for_small_topk/head128/phase1.h", STUB_HEAD128)):
        os.makedirs(os.path.dirname(os.path.join(fm, rel)), exist_ok=True)
        with open(os.path.join(fm, rel), "w") as f:
            f.write(text)
    return fm


def includes(fm: str, cuda_home: str) -> list[str]:
    return [f"{cuda_home}/include/cccl", f"{fm}/csrc", f"{fm}/csrc/api", f"{fm}/csrc/kerutils/include",
            f"{fm}/csrc/sm90", f"{fm}/csrc/cutlass/include", f"{fm}/csrc/cutlass/tools/util/include", f"{fm}/stubs"]


def sources(fm: str) -> list[str]:
    sparse = sorted(glob.glob(f"{fm}/csrc/sm90/decode/sparse_fp8/instantiations/*.cu"))
    return [f"{fm}/api_peers.cpp", f"{fm}/csrc/smxx/decode/get_decoding_sched_meta/get_decoding_sched_meta.cu",
            f"{fm}/csrc/smxx/decode/combine/combine.cu", f"{fm}/csrc/sm90/decode/dense/instantiations/bf16.cu",
            *sparse]


# The CUDA math libraries' headers torch's CUDAContext.h includes; a CPU machine with nvcc lacks them, and the binding
# uses none of them: for --check, each declares only the handle and status types torch's headers name.
FAKE_LIBS = {"cusparse.h": "cusparseHandle_t cusparseStatus_t", "cublas_v2.h": "cublasHandle_t cublasStatus_t",
             "cublasLt.h": "cublasLtHandle_t", "cusolverDn.h": "cusolverDnHandle_t",
             "cusolver_common.h": "cusolverStatus_t"}


def check_binding(fm: str) -> int:
    """Compile the binding alone with nvcc (no CUDA torch, no GPU): the stubs must fit FlashMLA's dispatch, which is
    what a GPU build would first fail on."""
    import torch.utils.cpp_extension as ce

    fake = os.path.join(fm, "fake_libs")
    os.makedirs(fake, exist_ok=True)
    for header, types in FAKE_LIBS.items():
        with open(os.path.join(fake, header), "w") as f:
            f.write("#pragma once\n" + "".join(f"typedef struct {t}_opaque *{t};\n" for t in types.split()))
    os.makedirs(os.path.join(fake, "c10/cuda/impl"), exist_ok=True)  # generated by a CUDA build of torch only
    open(os.path.join(fake, "c10/cuda/impl/cuda_cmake_macros.h"), "w").close()
    inc = [*includes(fm, ce.CUDA_HOME or "/usr/local/cuda"), *ce.include_paths(), sysconfig.get_paths()["include"], fake]
    cmd = ["nvcc", "-x", "cu", "-c", "-arch=sm_90a", "-DTORCH_EXTENSION_NAME=cuda", *CUDA_FLAGS,
           *(f"-I{p}" for p in inc), f"{fm}/api_peers.cpp", "-o", os.path.join(fm, "api_peers.o")]
    return subprocess.call(cmd)


def build(fm: str, site: str, build_dir: str) -> str:
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0a")
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 8))
    import torch.utils.cpp_extension as ce

    cuda_home = ce.CUDA_HOME or "/usr/local/cuda"
    os.makedirs(build_dir, exist_ok=True)
    ce.load(name="cuda", sources=sources(fm), extra_cflags=FLAGS, extra_cuda_cflags=CUDA_FLAGS,
            extra_include_paths=includes(fm, cuda_home), build_directory=build_dir, is_python_module=False,
            verbose=False)
    so = glob.glob(os.path.join(build_dir, "cuda*.so"))
    if not so:
        sys.exit(f"build produced no shared library in {build_dir}")
    pkg = os.path.join(site, "flash_mla")
    os.makedirs(pkg, exist_ok=True)
    for f in glob.glob(f"{fm}/flash_mla/*.py"):
        shutil.copy(f, pkg)
    shutil.copy(so[0], os.path.join(pkg, "cuda.so"))
    return pkg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=os.path.join(HERE, "..", ".peers", "flashmla-src.tgz"))
    ap.add_argument("--site", default="/tmp/site", help="folder for the flash_mla package (add it to PYTHONPATH)")
    ap.add_argument("--build", default="/tmp/flashmla-sparse-build")
    ap.add_argument("--check", action="store_true", help="only compile the binding here (no GPU, no link)")
    a = ap.parse_args()
    if not os.path.exists(a.src):
        print(f"no FlashMLA tarball at {a.src}: cp -r ../shared/peers .peers", file=sys.stderr)
        return 2
    t0 = time.time()
    fm = unpack(a.src)
    try:
        if a.check:
            rc = check_binding(fm)
            print(f"binding {'compiles' if rc == 0 else 'FAILED'} ({time.time() - t0:.0f} s)")
            return rc
        pkg = build(fm, a.site, a.build)
        print(f"flash_mla (dense + sparse fp8 decode, sm_90a) built in {time.time() - t0:.0f} s -> {pkg}")
        return 0
    finally:
        shutil.rmtree(os.path.dirname(fm), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
