"""Devices the roofline estimate knows (benchmarks/roofline.py): datasheet
compute rates and memory bandwidth, and published measurements of well-known
networks on them, used to calibrate the estimate.

Every number has its source beside it. "derived" means computed from
datasheet figures (cores x clock x operations per clock) with the per-clock
rates of the architecture stated in the comment; nothing here was measured by
this project. Peak rates are dense (no structured sparsity) and are those of
the GPU alone: the Jetsons' DLAs are not counted (our TensorRT backend does
not use them).

Calibration measurements (REFERENCES) are batch-1 latencies unless marked
otherwise. Each says what its time includes (network only, or the whole
Python loop with pre/post-processing): the calibration factor inherits that,
and so does the calibrated estimate.

The paper's own figures (FASSST, WACV 2022) are in PAPER: they are shown
beside the estimate for comparison and are never used for calibration.
"""

from typing import Dict, List

# --------------------------------------------------------------------- devices

DEVICES = {
    "1080ti": {
        "name": "NVIDIA GeForce GTX 1080 Ti",
        "arch": "Pascal GP102, sm_61, 28 SMs / 3584 CUDA cores, boost 1582 MHz",
        # FP32: 3584 cores x 2 FLOP (FMA) x 1.582 GHz = 11.34 TFLOPS (NVIDIA's product page:
        #   3584 CUDA cores, boost clock 1582 MHz).
        # FP16: sm_61 runs half arithmetic at 1/64 of the FP32 rate (CUDA C++ Programming Guide,
        #   "Throughput of Native Arithmetic Instructions": 2 vs 128 results per clock per SM for
        #   compute capability 6.1) -> 0.18 TFLOPS. TensorRT therefore keeps Pascal GeForce in FP32.
        # INT8: DP4A, 4 x the FP32 rate on GP102 (NVIDIA Tesla P40 datasheet: 12 TFLOPS FP32,
        #   47 TOPS INT8 on the same GP102) -> 45.4 TOPS.
        "peak_ops": {"fp32": 11.34e12, "fp16": 0.177e12, "int8": 45.4e12},
        # 11 Gbps GDDR5X x 352-bit / 8 = 484 GB/s (NVIDIA product page: 484 GB/s).
        "bandwidth": 484e9,
        "sources": [
            "https://www.nvidia.com/en-us/geforce/products/10series/geforce-gtx-1080-ti/ (cores, clock, memory)",
            "NVIDIA CUDA C++ Programming Guide, arithmetic instruction throughput table (cc 6.1 FP16 rate)",
            "NVIDIA Tesla P40 datasheet (GP102: 12 TFLOPS FP32, 47 TOPS INT8)",
        ],
        "calibrate_with": "gtx1080",
        "default_precision": "fp32",
    },
    "gtx1080": {
        # Calibration only: the published TensorRT measurements on Pascal that we found are on
        # a GTX 1080 (tensorrtx); the same architecture, TensorRT and kernels as the 1080 Ti.
        "name": "NVIDIA GeForce GTX 1080 (calibration only)",
        "arch": "Pascal GP104, sm_61, 20 SMs / 2560 CUDA cores, boost 1733 MHz",
        # 2560 x 2 x 1.733 GHz = 8.87 TFLOPS; FP16 1/64; INT8 (DP4A) 4 x FP32.
        "peak_ops": {"fp32": 8.87e12, "fp16": 0.139e12, "int8": 35.5e12},
        # 10 Gbps GDDR5X x 256-bit / 8 = 320 GB/s.
        "bandwidth": 320e9,
        "sources": ["https://www.nvidia.com/en-gb/geforce/products/10series/geforce-gtx-1080/ "
                    "(2560 cores, 1733 MHz boost, 10 Gbps GDDR5X, 256-bit)"],
        "calibrate_with": "gtx1080",
        "default_precision": "fp32",
    },
    "xavier": {
        "name": "NVIDIA Jetson Xavier NX (8 GB module)",
        "arch": "Volta, sm_72, 6 SMs / 384 CUDA cores + 48 Tensor Cores, max 1100 MHz",
        # Jetson Xavier NX Data Sheet (DA-09366-001): 384 CUDA cores, 48 Tensor Cores, GPU maximum
        # operating frequency 1100 MHz; 8 GB 128-bit LPDDR4x at up to 1600 MHz; "up to 21 TOPS
        # (INT8)" for GPU + 2 DLAs together.
        # FP32: 384 x 2 x 1.1 GHz = 0.845 TFLOPS (derived).
        # FP16: Volta Tensor Core = 64 FP16 FMA per clock (V100: 640 TCs, 1.53 GHz, 125 TFLOPS),
        #   48 x 64 x 2 x 1.1 GHz = 6.76 TFLOPS (derived; NVIDIA quotes ~6 TFLOPS FP16).
        # INT8: sm_72 Tensor Cores run INT8 at 2 x FP16 = 13.5 TOPS (derived; the remainder of
        #   the 21 TOPS is the two DLAs).
        "peak_ops": {"fp32": 0.845e12, "fp16": 6.76e12, "int8": 13.5e12},
        # 128 bit x 2 x 1600 MHz / 8 = 51.2 GB/s (the 8 GB module and the developer kit; the
        # later 16 GB module runs its LPDDR4x at 1866 MHz, 59.7 GB/s).
        "bandwidth": 51.2e9,
        "sources": [
            "NVIDIA Jetson Xavier NX Data Sheet DA-09366-001 (GPU, clocks, memory, 21 TOPS)",
            "https://developer.nvidia.com/embedded/jetson-xavier-nx-devkit (8 GB 128-bit LPDDR4x, 51.2 GB/s)",
            "NVIDIA Tesla V100 datasheet (125 TFLOPS from 640 Tensor Cores at 1.53 GHz: 64 FMA/clock/TC)",
        ],
        "calibrate_with": "xavier",
        "default_precision": "fp16",
    },
    "orin": {
        # "orin" is the Jetson Orin NX 16 GB: the Orin module in the Xavier NX's place (same
        # form factor and power class), and the one with published per-precision TensorRT
        # latencies of a well-known network family (Ultralytics' Jetson guide, below).
        "name": "NVIDIA Jetson Orin NX 16GB",
        "arch": "Ampere GA10B, sm_87, 8 SMs / 1024 CUDA cores + 32 Tensor Cores, max 918 MHz",
        # Jetson Orin NX Series Data Sheet (DS-10712-001): 1024-core Ampere GPU with 32 Tensor
        # Cores, max 918 MHz (16 GB module); 16 GB 128-bit LPDDR5, 102.4 GB/s; 100 TOPS
        # (sparse INT8, GPU + 2 DLAs).
        # FP32: 1024 x 2 x 0.918 GHz = 1.88 TFLOPS (derived).
        # FP16 / INT8 (dense, Tensor Cores): Orin SMs do 1024 FP16 FMA and 2048 INT8 MAC per
        #   clock (derived from the Jetson AGX Orin technical brief: 170 sparse INT8 TOPS and
        #   5.3 FP32 TFLOPS from 16 SMs at 1.3 GHz) -> 8 x 0.918 GHz x 2048 = 15.0 TFLOPS FP16,
        #   30.1 TOPS INT8 dense (60 sparse; with the DLAs' ~40 sparse TOPS this is the 100 TOPS).
        # "fp32" is TF32 on the Tensor Cores (half the FP16 rate, 7.5 TFLOPS): TensorRT builds FP32
        #   engines with BuilderFlag.TF32 on by default on Ampere and later. (CUDA-core FP32 proper
        #   is 1.88 TFLOPS; the published FP32 latencies below are faster than that allows.)
        "peak_ops": {"fp32": 7.52e12, "fp16": 15.0e12, "int8": 30.1e12},
        "bandwidth": 102.4e9,
        "sources": [
            "NVIDIA Jetson Orin NX Series Data Sheet DS-10712-001 (GPU, 918 MHz, LPDDR5 102.4 GB/s, 100 TOPS)",
            "NVIDIA Jetson AGX Orin Series Technical Brief (per-SM Tensor Core rates: 170 sparse "
            "INT8 TOPS, 5.3 FP32 TFLOPS, 2048 cores at 1.3 GHz)",
        ],
        "calibrate_with": "orin",
        "default_precision": "fp16",
    },
}  # type: Dict[str, Dict[str, object]]

BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1}

# ------------------------------------------------------ calibration measurements
#
# network: a name benchmarks/roofline.py knows how to build (reference_network()).
# latency_ms: measured time per image (1000 / FPS when the source gives FPS).
# batch: images per run in the measurement (the roofline is evaluated at the same batch and
#        divided by it).

_TRT_DEMOS = ("jkjung-avt/tensorrt_demos README.md, 'Demo #6: Using INT8 and DLA core', step 6 (commit "
              "c7c7f03): Jetson Xavier NX DevKit, JetPack 4.4 (TensorRT 7.1.3.4), '15W 6CORE' mode, "
              "`sudo jetson_clocks`, batch 1, GPU (FP16 / INT8 columns); FPS of the repository's demo "
              "(trt_yolo.py), i.e. the whole Python loop including pre-processing and post-processing (NMS)")
_NV_JB = ("NVIDIA-AI-IOT/jetson_benchmarks: README 'Sample Output' for Xavier NX (546.69 FPS) and "
          "benchmark_csv/nx-benchmarks.csv (yolov3-tiny-416: Devices=1 i.e. GPU only, BatchSizeGPU=8); "
          "precision int8 (the script's default); JetPack 4.4, TensorRT 7; trtexec-style throughput")
_TRTX = ("wang-xinyu/tensorrtx README.md 'Speed Benchmark' (commit 3ff22bb): Xeon E5-2620 / "
         "GTX 1080, batch 1, TensorRT network API; FPS of the inference call")
_UL = ("ultralytics/ultralytics docs/en/guides/nvidia-jetson.md, 'NVIDIA Jetson Orin NX 16GB' "
       "detailed comparison tables (commit 0100750): Seeed reComputer J4012 (Orin NX 16GB), "
       "TensorRT engines exported by Ultralytics, imgsz 640, batch 1; 'Inference time (ms/im)', "
       "the model call only (Ultralytics reports pre/post-processing separately)")

REFERENCES = [
    # Jetson Xavier NX
    {"device": "xavier", "network": "yolov3-tiny-416", "precision": "fp16", "batch": 1,
     "latency_ms": 1000 / 58.0, "includes": "python loop + pre/post", "source": _TRT_DEMOS},
    {"device": "xavier", "network": "yolov3-tiny-416", "precision": "int8", "batch": 1,
     "latency_ms": 1000 / 65.0, "includes": "python loop + pre/post", "source": _TRT_DEMOS},
    {"device": "xavier", "network": "yolov3-608", "precision": "fp16", "batch": 1,
     "latency_ms": 1000 / 15.2, "includes": "python loop + pre/post", "source": _TRT_DEMOS},
    {"device": "xavier", "network": "yolov3-608", "precision": "int8", "batch": 1,
     "latency_ms": 1000 / 23.1, "includes": "python loop + pre/post", "source": _TRT_DEMOS},
    {"device": "xavier", "network": "yolov3-tiny-416", "precision": "int8", "batch": 8,
     "latency_ms": 1000 / 546.69, "includes": "network only, batched throughput", "source": _NV_JB},
    # GTX 1080 (applied to the 1080 Ti: same architecture)
    {"device": "gtx1080", "network": "yolov3-tiny-608", "precision": "fp32", "batch": 1,
     "latency_ms": 1000 / 333.0, "includes": "network (inference call)", "source": _TRTX},
    {"device": "gtx1080", "network": "yolov3-608", "precision": "fp32", "batch": 1,
     "latency_ms": 1000 / 39.2, "includes": "network (inference call)", "source": _TRTX},
    {"device": "gtx1080", "network": "yolov3-608", "precision": "int8", "batch": 1,
     "latency_ms": 1000 / 71.4, "includes": "network (inference call)", "source": _TRTX},
    # Jetson Orin NX 16GB
    {"device": "orin", "network": "yolo11n-640", "precision": "fp32", "batch": 1, "latency_ms": 8.05,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11n-640", "precision": "fp16", "batch": 1, "latency_ms": 4.85,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11s-640", "precision": "fp16", "batch": 1, "latency_ms": 7.55,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11m-640", "precision": "fp32", "batch": 1, "latency_ms": 30.72,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11m-640", "precision": "fp16", "batch": 1, "latency_ms": 14.45,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11l-640", "precision": "fp16", "batch": 1, "latency_ms": 18.53,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11x-640", "precision": "fp32", "batch": 1, "latency_ms": 76.44,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11x-640", "precision": "fp16", "batch": 1, "latency_ms": 35.99,
     "includes": "network (model call)", "source": _UL},
    {"device": "orin", "network": "yolo11x-640", "precision": "int8", "batch": 1, "latency_ms": 22.32,
     "includes": "network (model call)", "source": _UL},
]  # type: List[Dict[str, object]]

# ------------------------------------------------------------ the paper's figures

PAPER = {
    "source": "FASSST, WACV 2022 (paper/fassst-wacv2022.txt): Tables 2, 4, 5, 7 and section 4.2.2",
    "fps_1080ti_416": 59.2,      # Table 2 / Table 5 (COCO, FASSST-416, S = 6)
    "fps_1080ti_768": 47.5,      # Table 4 / Table 5 (CityScapes, FASSST-768)
    "fps_xavier_nx": 5.3,        # section 4.2.2; input size and precision not stated
    "gflops_416": 71.6,          # Table 2
    "storage_mb_416": 36.3,      # Table 2
    "gflops_768": 112.8,         # Table 4
    "table7_fps_coco": {16: 65.1, 25: 63.5, 36: 59.2, 49: 55.6, 64: 49.6, 81: 41.9},  # n = S*S, at 416
    "table7_fps_city": {16: 52.1, 25: 51.0, 36: 49.5, 49: 47.5, 64: 42.3, 81: 34.7},  # CityScapes (768)
    "note": "measured with Caffe on one GTX 1080 Ti; precision not stated (Caffe: FP32). The 768 model's "
            "47.5 FPS equals Table 7's CityScapes row at n = 49 (S = 7); at n = 36 (S = 6) it is 49.5. "
            "The Xavier NX figure is given in the CityScapes paragraph (so probably the 768 model) with no "
            "input size, precision, framework or power mode stated.",
}


def device(name: str) -> Dict[str, object]:
    if name not in DEVICES:
        raise KeyError("unknown device {!r}; known: {}".format(name, ", ".join(sorted(DEVICES))))
    return DEVICES[name]


def references_for(name: str) -> List[Dict[str, object]]:
    """The calibration measurements used for device ``name``."""
    target = DEVICES[name]["calibrate_with"]
    return [r for r in REFERENCES if r["device"] == target]
