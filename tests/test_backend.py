"""Backend reporting and GPU checks, as far as a CPU machine allows: llama.cpp's system info and
load log as a CUDA build prints them, the fit check for two models on one GPU, flash_attn = auto."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError, ModelLoadError
from engine.inference.backend import (
    Backend,
    Gpu,
    LoadLog,
    check_gpu_fit,
    describe_backend,
    parse_system_info,
    resolve_flash_attn,
)
from engine.inference.config import parse_config

CUDA_INFO = ("CUDA : ARCHS = 900 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : SSE3 = 1 | "
             "AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 1 | OPENMP = 1 | REPACK = 1 |")

# What a CUDA build of llama.cpp logs while loading gemma-3-270m with n_gpu_layers = -1.
CUDA_LOAD = """llama_model_load_from_file_impl: using device CUDA0 (NVIDIA H200) - 140507 MiB free
load_tensors: offloading 18 repeating layers to GPU
load_tensors: offloading output layer to GPU
load_tensors: offloaded 19/19 layers to GPU
load_tensors:        CUDA0 model buffer size =   241.09 MiB"""


def test_system_info_names_the_backends() -> None:
    assert parse_system_info(CUDA_INFO) == ("CUDA", "CPU")
    assert parse_system_info("CPU : SSE3 = 1 | AVX = 1 |") == ("CPU",)
    assert parse_system_info("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 |") == ("Metal", "CPU")


def test_load_log_reads_layers_and_device() -> None:
    log = LoadLog(CUDA_LOAD.splitlines())
    assert log.offloaded == (19, 19)
    assert log.devices == ("NVIDIA H200",)
    cpu = LoadLog([f"load_tensors: layer {i:3d} assigned to device CPU, is_swa = 0"
                   for i in range(5)])
    assert cpu.offloaded == (0, 5) and cpu.devices == ()
    assert LoadLog([]).offloaded is None


def test_this_machine_loads_on_the_cpu(tiny_models_toml: Path) -> None:
    from engine.inference.config import load_config
    from engine.inference.pairs import load_pair

    model = load_pair(load_config(tiny_models_toml), "tiny", ("base",))["base"]
    try:
        s = model.info.settings
        assert describe_backend().name == "CPU"  # no GPU on the CI machines
        assert (s["backend"], s["device"], s["layers_offloaded"]) == ("CPU", "CPU", 0)
        assert s["layers_total"] == 3  # 2 blocks + the output layer, as llama.cpp counts
        assert s["flash_attn"] is False  # auto: off on a CPU
    finally:
        model.close()


def test_flash_attn_auto() -> None:
    cuda = Backend("CUDA", ("CUDA", "CPU"), True, ("NVIDIA H200",))
    cpu = Backend("CPU", ("CPU",), False)
    assert resolve_flash_attn("auto", gpu_layers=-1, backend=cuda) is True
    assert resolve_flash_attn("auto", gpu_layers=0, backend=cuda) is False
    assert resolve_flash_attn("auto", gpu_layers=-1, backend=cpu) is False
    assert resolve_flash_attn(True, gpu_layers=0, backend=cpu) is True


def test_two_models_that_do_not_fit_are_refused_in_one_line() -> None:
    gpu = [Gpu("NVIDIA RTX 4090", 24564, 24000)]
    gib = 2**30
    check_gpu_fit([("base", 8 * gib, -1), ("instruct", 8 * gib, -1)], gpu)  # 16 GiB fits
    with pytest.raises(ModelLoadError) as err:
        check_gpu_fit([("base", 14 * gib, -1), ("instruct", 14 * gib, -1)], gpu)
    msg = str(err.value)
    assert "\n" not in msg and "base (14.0 GiB) + instruct (14.0 GiB)" in msg
    assert "NVIDIA RTX 4090" in msg and "n_gpu_layers" in msg
    # a model the user splits by hand (n_gpu_layers >= 0) is not counted
    check_gpu_fit([("base", 14 * gib, -1), ("instruct", 14 * gib, 10)], gpu)


def test_flash_attn_setting_in_models_toml(tmp_path: Path) -> None:
    p = tmp_path / "models.toml"
    for value, ok in (('"auto"', "auto"), ("true", True), ("false", False)):
        p.write_text(f"[engine]\nflash_attn = {value}\n")
        assert parse_config(p.read_text(), p).engine.flash_attn == ok
    p.write_text('[engine]\nflash_attn = "yes"\n')
    with pytest.raises(ConfigError, match="auto"):
        parse_config(p.read_text(), p)


def test_runs_on_says_where_a_model_runs() -> None:
    from engine.inference.backend import runs_on

    assert runs_on({"backend": "CPU"}) == "CPU"
    assert runs_on({"backend": "CUDA", "device": "NVIDIA H200", "layers_offloaded": 19,
                    "layers_total": 19}) == "CUDA (NVIDIA H200) 19/19 layers"
    assert runs_on({"server_kind": "vllm", "engine_version": "vllm 0.11.0"}) == (
        "served by vllm 0.11.0")
