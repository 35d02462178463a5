"""Which llama.cpp backend runs the in-process models (CPU, CUDA, Metal, Vulkan), on which device,
and how many layers a load actually offloaded, read from llama.cpp's own load log.

Recorded with every run, shown in the app's header and by `tunelens models --check`, so that a
figure measured on a GPU is never mistaken for one measured on a CPU.
"""

from __future__ import annotations

import ctypes
import functools
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "HIP", "SYCL", "MUSA", "CANN", "OpenCL")
_OFFLOADED_RE = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_DEVICE_RE = re.compile(r"using device (\S+) \(([^)]*)\)")
_ASSIGNED_RE = re.compile(r"layer +\d+ assigned to device (\S+?),")
_LOG_LOCK = threading.Lock()


@dataclass(frozen=True)
class Backend:
    """What llama.cpp was built with, and the GPUs it can see."""

    name: str  # the first GPU backend compiled in, else "CPU"
    compiled: tuple[str, ...]  # every backend in llama.cpp's system info
    gpu_offload: bool
    devices: tuple[str, ...] = ()  # GPU names (nvidia-smi where present)

    @property
    def summary(self) -> str:
        where = f" ({', '.join(self.devices)})" if self.devices else ""
        return f"{self.name}{where}"


def parse_system_info(text: str) -> tuple[str, ...]:
    """Backend names from `llama_print_system_info()` ("CPU : SSE3 = 1 | CUDA : ARCHS = 900 |")."""
    names = []
    for part in text.split("|"):
        head = part.split(":", 1)[0].strip()
        if head and ":" in part and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", head):
            base = head.rstrip("0123456789")
            if base not in names and (base == "CPU" or base in GPU_BACKENDS):
                names.append(base)
    return tuple(names)


@functools.cache
def describe_backend() -> Backend:
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    compiled = parse_system_info(info) or ("CPU",)
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    name = next((b for b in compiled if b in GPU_BACKENDS), "CPU") if gpu else "CPU"
    devices = tuple(g.name for g in nvidia_gpus()) if name == "CUDA" else ()
    return Backend(name=name, compiled=compiled, gpu_offload=gpu, devices=devices)


@dataclass(frozen=True)
class Gpu:
    name: str
    total_mib: int
    free_mib: int


def nvidia_gpus() -> list[Gpu]:
    """The NVIDIA GPUs nvidia-smi lists, with their memory; empty without one."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,memory.free",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(Gpu(parts[0], int(parts[1]), int(parts[2])))
    return gpus


@dataclass
class LoadLog:
    """What llama.cpp said while loading one model: layers offloaded, devices used."""

    lines: list[str] = field(default_factory=list)

    @property
    def offloaded(self) -> tuple[int, int] | None:
        """(layers on a GPU, layers in all): llama.cpp's summary line, else its per-layer lines."""
        for line in self.lines:
            m = _OFFLOADED_RE.search(line)
            if m:
                return int(m.group(1)), int(m.group(2))
        placed = [m.group(1) for line in self.lines if (m := _ASSIGNED_RE.search(line))]
        if not placed:
            return None
        return sum(1 for d in placed if not d.startswith("CPU")), len(placed)

    @property
    def devices(self) -> tuple[str, ...]:
        found = []
        for line in self.lines:
            m = _DEVICE_RE.search(line)
            if m and m.group(2) not in found:
                found.append(m.group(2))
        return tuple(found)


# llama.cpp keeps a raw pointer to the log callback and calls it from any thread (a model freed
# by the garbage collector logs too), so the callback is made once and never freed: freeing a
# per-load callback while another thread was inside it crashed the process.
_CAPTURE: dict[str, object] = {"thread": None, "sink": None}
_CALLBACK: list[object] = []


def _install_callback() -> None:
    import llama_cpp
    import llama_cpp._logger as lg

    if _CALLBACK:
        return
    forward = lg.llama_log_callback

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        sink = _CAPTURE["sink"]
        if sink is not None and _CAPTURE["thread"] == threading.get_ident():
            sink.append(text.decode("utf-8", errors="replace"))  # type: ignore[attr-defined]
        else:
            forward(level, text, user_data)  # llama-cpp-python's own logger, as before

    _CALLBACK.append(callback)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


@contextmanager
def capture_load_log() -> Iterator[LoadLog]:
    """Collect what llama.cpp logs on this thread during a load; other threads log as before."""
    log = LoadLog()
    pending: list[str] = []
    with _LOG_LOCK:
        _install_callback()
        _CAPTURE.update(thread=threading.get_ident(), sink=pending)
        try:
            yield log
        finally:
            _CAPTURE.update(thread=None, sink=None)
            log.lines.extend("".join(pending).splitlines())


def resolve_flash_attn(setting: bool | str, *, gpu_layers: int, backend: Backend) -> bool:
    """`auto`: on where layers run on a GPU, off on a CPU (measured about 2x slower there)."""
    if isinstance(setting, bool):
        return setting
    return backend.gpu_offload and backend.name != "CPU" and gpu_layers != 0


# KV cache, compute buffers and the CUDA context on top of the weights: a margin, not a model.
_GPU_OVERHEAD = 1.2
_GPU_RESERVE_MIB = 512


def check_gpu_fit(models: list[tuple[str, int, int]], gpus: list[Gpu] | None = None) -> None:
    """Refuse in one line to load models whose weights cannot all fit on the GPU.

    `models` is (name, file size in bytes, n_gpu_layers); only fully offloaded models
    (n_gpu_layers = -1) are counted, the others are the user's own split.
    """
    from engine.errors import ModelLoadError

    full = [(name, size) for name, size, layers in models if layers < 0]
    if not full:
        return
    if gpus is None:
        backend = describe_backend()
        if backend.name != "CUDA":
            return
        gpus = nvidia_gpus()
    if not gpus:
        return
    need = sum(size for _, size in full) * _GPU_OVERHEAD / 2**20 + _GPU_RESERVE_MIB
    free = gpus[0].free_mib
    if need > free:
        names = " + ".join(f"{n} ({s / 2**30:.1f} GiB)" for n, s in full)
        raise ModelLoadError(
            f"{names} need about {need / 1024:.1f} GiB on {gpus[0].name}, which has "
            f"{free / 1024:.1f} GiB free: set n_gpu_layers for one of them in models.toml"
        )


def runs_on(settings: dict[str, object]) -> str:
    """Where a loaded model runs, in a few words: "CPU", "CUDA (NVIDIA H200) 19/19 layers",
    or "served by vllm 0.11.0" (from `ModelInfo.settings`)."""
    if "server_kind" in settings:
        return f"served by {settings.get('engine_version') or settings['server_kind']}"
    backend = str(settings.get("backend") or "CPU")
    if backend == "CPU":
        return "CPU"
    layers = f" {settings.get('layers_offloaded')}/{settings.get('layers_total')} layers"
    return f"{backend} ({settings.get('device')}){layers}"
