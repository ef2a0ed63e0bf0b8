"""The profiler: measure on a real GPU and hold every prediction of the calculator against the measurement.

Modules, one job each:

- ``device``: NVML (name, memory, per-process memory, clocks, power, temperature), optional; CUDA checks.
- ``memory``: allocator figures, a background NVML sampler, the CUDA context's own cost.
- ``timing``: CUDA-event timing with warm-up, repetitions, median and spread, L2 flushed; torch.profiler
  per-kernel breakdown and Chrome traces.
- ``calibrate``: copy bandwidth and matmul rates -> a hardware spec YAML (``mlacalc calibrate``).
- ``predict``: what the calculator says for a point (``mlacalc.kv``, ``mlacalc.step``, stated working sets).
- ``run``: one inference point, predicted beside measured (``mlacalc profile``); OOM -> "does not fit".
- ``train``: one forward+backward point of real layers under a recomputation mode (``mlacalc.activations``).
- ``whole_step``: whole decode/prefill steps of N real layers, each op's kernel time beside the calculator's
  (``mlacalc profile --whole-step``); ``attribution`` ties each profiled kernel to the op range it ran in.
- ``validate`` and ``report``: the suite, JSON, HTML and Markdown (``mlacalc validate``).
- ``results``: statistics, comparisons and atomic files (plain Python).
- ``sharded`` (``mlacalc profile --gpus N``, ``validate --gpus N``): one process per GPU, a few real layers sharded as
  the calculator assumes (``layout``: what each rank holds), predicted beside measured per rank; ``shard_layers``
  builds them and runs a decode step with its collectives, ``zero`` trains them under TP/SP and ZeRO-0..3.

torch, pynvml and plotly are imported inside functions only.
"""
