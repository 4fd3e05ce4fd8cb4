"""Writes the seeded corpus of hostile inputs that tests/cpp/fuzz_core.cpp and
tests/cpp/fuzz_c_api.cpp feed to the C++ core and the C API (docs/hardening.md).

    python tests/fuzz/make_corpus.py OUT_DIR [--seed N]

One JSON-lines file per surface, one item per line:

  roi.jsonl       ROI kernel inputs (roi_crop / roi_fuse): shapes, strides,
                  ROI rows, feature values, thread counts
  frames.jsonl    frames through to_three_channels / letterbox / the 16-bit
                  rule / preprocess_frames: sizes, strides, pixel formats
  metadata.jsonl  model metadata documents for ModelMetadata::from_json
  pipeline.jsonl  fassst::Segmenter over a test backend: metadata, options,
                  hostile graph outputs, frames, calls
  c_api.jsonl     C API call sequences: bad arguments, hostile model files

Every item has an "id" (unique in its surface), "expect" ("ok": must
succeed, "error": must throw a fassst error / return an error status,
"either": one of the two) and "why". Nothing may crash, hang, allocate without
bound or trip a sanitizer. Floats that JSON cannot hold are strings ("nan",
"inf", "-inf"); the drivers read any float field from a number or a string.

Deterministic: the same seed writes the same bytes (Python 3.8+, standard
library only). Known defects are listed in tests/fuzz/known_failures.txt.
"""
import argparse
import copy
import hashlib
import json
import math
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TINY_TAIL = os.path.join(ROOT, "tests", "data", "tiny", "tiny.tail.onnx")

INT32_MAX = 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38


def f32(x):
    """x rounded to float32 (the kernels' type), as JSON: a number, or a
    string for NaN and the infinities."""
    if isinstance(x, str):
        return x
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:  # beyond float32: the string keeps it exact for strtof
        return repr(x)


def f64(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------- metadata

def base_metadata():
    """A valid document matching tests/data/tiny (so that the C API can load
    it into the tiny model's graphs)."""
    return {
        "format": "fassst", "version": 1, "input_size": 128,
        "input_mapping": {"channel_order": "rgb", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                          "uint16": {"kind": "percentile", "low": 0.5, "high": 99.5}},
        "grid_size": 6, "mask_channels": 16, "roi_size": 16, "strides": [8.0, 16.0, 32.0], "rff": True,
        "class_names": ["disc", "square"], "score_threshold": 0.3, "nms_threshold": 0.5, "max_instances": 36,
        "tile": None, "tail_sha256": sha256_of(TINY_TAIL),
        "training": {"note": "random weights, seed 0, for tests only"},
    }


RAW = "\u0001RAW:"  # marks a value replaced by raw JSON text after dumping


def raw(text):
    return RAW + text + RAW


def dump(doc):
    """JSON text of doc, with raw(...) values spliced in as written (tokens
    Python's json cannot write: NaN, 1e400, 1e-400...)."""
    text = json.dumps(doc, sort_keys=True, ensure_ascii=True, allow_nan=False)
    marker = json.dumps(RAW)[1:-1]  # how the marker looks inside a JSON string
    while marker in text:
        start = text.index('"' + marker)
        end = text.index(marker + '"', start + 1)
        inner = json.loads('"' + text[start + 1 + len(marker):end] + '"')
        text = text[:start] + inner + text[end + len(marker) + 1:]
    return text


def set_path(doc, path, value):
    """Copy of doc with doc[path] = value; value DELETE removes the key."""
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


DELETE = object()

# Values a field of each kind gets, with what a correct validator does:
# (label, value, expect).
WRONG_TYPES = [("string", "x", "error"), ("list", [], "error"), ("object", {}, "error"), ("true", True, "error"),
               ("missing", DELETE, "error")]
INT_VALUES = [("null", None, "error"), ("float_token", raw("4.0"), "error"), ("negative", -1, "error"),
              ("zero", 0, "error"), ("int32_max", INT32_MAX, "error"), ("int32_overflow", 2**31, "error"),
              ("int64_overflow", 2**64, "error"), ("huge_digits", raw("9" * 400), "error"),
              ("nan_token", raw("NaN"), "error"), ("infinity_token", raw("Infinity"), "error"),
              ("exp_1e400", raw("1e400"), "error"), ("quoted", "128", "error")]
FLOAT_VALUES = [("null", None, "error"), ("nan_token", raw("NaN"), "error"), ("infinity_token", raw("Infinity"), "error"),
                ("minus_infinity_token", raw("-Infinity"), "error"), ("exp_1e400", raw("1e400"), "error"),
                ("minus_exp_1e400", raw("-1e400"), "error"), ("quoted", "0.5", "error"),
                ("beyond_float32", raw("1e39"), "error"), ("minus_beyond_float32", raw("-1e39"), "error")]


# The metadata documents the C API corpus also delivers inside a model file
# (each costs an ONNX Runtime session): the valid variants, and the invalid
# ones whose harm shows only once a model is loaded.
MODEL_FILE_ITEMS = {
    "valid", "valid-no-optional", "valid-tile", "valid-no-uint16", "valid-bgr", "rff-false",
    "input_size-int32_max", "input_size-65536", "input_size-negative", "input_size-not-multiple-of-32",
    "grid_size-int32_max", "roi_size-2147483644", "max_instances-int32_max", "strides[0]-zero", "strides[2]-denormal",
    "tile-overlap-equals-size", "tile-size-int32-max", "class_names-huge-name", "class_names-many", "tail_sha256-wrong",
}


def metadata_items(rng):
    base = base_metadata()
    items = []

    def add(ident, doc_or_text, expect, why):
        text = doc_or_text if isinstance(doc_or_text, str) else dump(doc_or_text)
        item = {"id": ident, "expect": expect, "why": why, "model": ident in MODEL_FILE_ITEMS}
        try:
            text.encode("utf-8")
            item["text"] = text
        except UnicodeEncodeError:  # lone surrogates: raw bytes
            item["hex"] = text.encode("utf-8", "surrogatepass").hex()
        items.append(item)

    def add_bytes(ident, data, expect, why):
        items.append({"id": ident, "hex": data.hex(), "expect": expect, "why": why, "model": False})

    add("valid", base, "ok", "the tiny model's own document")
    add("valid-no-optional", {k: v for k, v in base.items()
                              if k not in ("rff", "score_threshold", "nms_threshold", "max_instances", "tile",
                                           "tail_sha256", "training", "format")},
        "ok", "optional fields left out take their defaults")
    add("valid-tile", set_path(base, ["tile"], {"size": 64, "overlap": 16}), "ok", "a model with default tiling")
    add("valid-window-rule", set_path(base, ["input_mapping", "uint16"], {"kind": "window", "min": 0, "max": 4095}),
        "ok", "window rule")
    add("valid-identity-rule", set_path(base, ["input_mapping", "uint16"], {"kind": "identity"}), "ok", "identity rule")
    add("valid-no-uint16", set_path(base, ["input_mapping", "uint16"], None), "ok", "no 16-bit rule")
    add("valid-bgr", set_path(base, ["input_mapping", "channel_order"], "bgr"), "ok", "bgr input")
    add("valid-unicode-names", set_path(base, ["class_names"], ["z\u00e9ro", "\u65e5\u672c", "\U0001F600"]),
        "either", "non-ASCII class names (3 names: the tiny graph has 2 classes)")

    # Every field wrong in type and range.
    int_fields = [["input_size"], ["grid_size"], ["mask_channels"], ["roi_size"], ["max_instances"]]
    for path in int_fields:
        name = ".".join(path)
        for label, value, expect in WRONG_TYPES + INT_VALUES:
            if path == ["max_instances"] and label == "missing":
                continue  # optional
            if path == ["max_instances"] and label in ("zero", "int32_max"):
                expect = "either"  # 0 keeps no instance; INT32_MAX: no cap
            add("{}-{}".format(name, label), set_path(base, path, value), expect,
                "{} = {}".format(name, label))
    add("input_size-not-multiple-of-32", set_path(base, ["input_size"], 100), "either",
        "input_size the graph does not have")
    add("input_size-65536", set_path(base, ["input_size"], 65536), "error",
        "a 65536^2 network input is 48 GiB per image")
    add("input_size-31", set_path(base, ["input_size"], 31), "error", "below the minimum 32")
    add("grid_size-46341", set_path(base, ["grid_size"], 46341), "error",
        "grid_size^2 overflows int (the cell count and the default max_instances)")
    add("grid_size-46341-with-max", set_path(set_path(base, ["grid_size"], 46341), ["max_instances"], 5), "error",
        "grid_size^2 overflows int even with max_instances given")
    add("grid_size-10000", set_path(base, ["grid_size"], 10000), "either", "10^8 cells")
    add("roi_size-30", set_path(base, ["roi_size"], 30), "error", "not a multiple of 4")
    add("roi_size-2147483644", set_path(base, ["roi_size"], 2147483644), "error",
        "a multiple of 4 near INT32_MAX: 2 S1 overflows int")
    add("roi_size-65536", set_path(base, ["roi_size"], 65536), "error", "(2 S1)^2 masks of 64 GiB per instance")
    add("mask_channels-1000000", set_path(base, ["mask_channels"], 1000000), "either",
        "a million mask channels")

    for path in (["version"],):
        for label, value, expect in WRONG_TYPES + [("two", 2, "error"), ("float", raw("1.0"), "error"),
                                                   ("zero", 0, "error"), ("nan_token", raw("NaN"), "error")]:
            add("version-{}".format(label), set_path(base, path, value), expect, "version = " + label)

    float3_fields = [["strides"], ["input_mapping", "mean"], ["input_mapping", "std"]]
    for path in float3_fields:
        name = ".".join(path)
        for label, value, expect in WRONG_TYPES:
            add("{}-{}".format(name, label), set_path(base, path, value), expect, "{} = {}".format(name, label))
        add(name + "-two-items", set_path(base, path, [1.0, 2.0]), "error", "2 numbers instead of 3")
        add(name + "-four-items", set_path(base, path, [1.0, 2.0, 3.0, 4.0]), "error", "4 numbers instead of 3")
        for i in range(3):
            for label, value, expect in FLOAT_VALUES:
                doc = copy.deepcopy(base)
                node = doc
                for key in path:
                    node = node[key]
                node[i] = value
                add("{}[{}]-{}".format(name, i, label), doc, expect, "{}[{}] = {}".format(name, i, label))
    for i, (label, value, expect, why) in enumerate([
            ("zero", 0.0, "error", "stride 0: 1 / stride is infinite"),
            ("negative", -8.0, "error", "negative stride"),
            ("denormal", raw("1e-40"), "error", "a float32 denormal: 1 / stride overflows to inf"),
            ("tiny", raw("1e-30"), "either", "1 / stride = 1e30: ROI coordinates near float32's limit"),
            ("underflow", raw("1e-400"), "error", "reads as 0"),
            ("huge", raw("3e38"), "either", "every ROI samples one point"),
            ("fraction", 0.5, "either", "a sub-pixel stride")]):
        add("strides[{}]-{}".format(i % 3, label), set_path(base, ["strides"], [value if j == i % 3 else s
                                                                                for j, s in enumerate([8.0, 16.0, 32.0])]),
            expect, why)
    for label, value, expect, why in [("zero", 0.0, "error", "divides by 0"), ("negative", -0.2, "error", "negative std"),
                                      ("denormal", raw("1e-40"), "either", "x / std overflows to inf"),
                                      ("tiny", raw("1e-30"), "either", "x / std near 1e30")]:
        add("input_mapping.std[1]-" + label, set_path(base, ["input_mapping", "std"], [0.229, value, 0.225]),
            expect, why)
    add("input_mapping.mean-huge", set_path(base, ["input_mapping", "mean"], [3e38, -3e38, 0]), "either",
        "finite but absurd means")

    for path in (["score_threshold"], ["nms_threshold"]):
        name = ".".join(path)
        for label, value, expect in WRONG_TYPES + FLOAT_VALUES + [
                ("negative", -0.1, "error"), ("above_one", 1.5, "error"), ("one", 1, "ok"), ("zero", 0, "ok"),
                ("denormal", raw("1e-320"), "either"), ("minus_zero", raw("-0.0"), "either")]:
            if label == "missing":
                continue  # optional
            add("{}-{}".format(name, label), set_path(base, path, value), expect, "{} = {}".format(name, label))

    add("input_mapping-missing", set_path(base, ["input_mapping"], DELETE), "error", "no input_mapping")
    add("input_mapping-list", set_path(base, ["input_mapping"], [1, 2]), "error", "input_mapping a list")
    for label, value in [("upper", "RGB"), ("other", "yuv"), ("number", 1), ("null", None)]:
        add("channel_order-" + label, set_path(base, ["input_mapping", "channel_order"], value), "error",
            "channel_order = " + label)
    u16 = ["input_mapping", "uint16"]
    for label, value, expect in [("string", "percentile", "error"), ("list", [], "error"), ("kind-missing", {}, "error"),
                                 ("kind-number", {"kind": 1}, "error"), ("kind-unknown", {"kind": "gamma"}, "error"),
                                 ("kind-empty", {"kind": ""}, "error"),
                                 ("percentile-low-missing", {"kind": "percentile", "high": 99.5}, "error"),
                                 ("percentile-low-string", {"kind": "percentile", "low": "0", "high": 99.5}, "error"),
                                 ("percentile-low-negative", {"kind": "percentile", "low": -5, "high": 99.5}, "error"),
                                 ("percentile-high-above-100", {"kind": "percentile", "low": 0.5, "high": 150}, "error"),
                                 ("percentile-huge", {"kind": "percentile", "low": 0.5, "high": 1e308}, "error"),
                                 ("percentile-inverted", {"kind": "percentile", "low": 90, "high": 10}, "either"),
                                 ("percentile-nan", {"kind": "percentile", "low": raw("NaN"), "high": 99.5}, "error"),
                                 ("window-inverted", {"kind": "window", "min": 100, "max": 10}, "either"),
                                 ("window-huge", {"kind": "window", "min": -1e308, "max": 1e308}, "either"),
                                 ("window-max-missing", {"kind": "window", "min": 0}, "error"),
                                 ("window-infinity", {"kind": "window", "min": 0, "max": raw("Infinity")}, "error")]:
        add("uint16-" + label, set_path(base, u16, value), expect, "input_mapping.uint16 " + label)

    for label, value, expect in [("string", "yes", "error"), ("number", 1, "error"), ("null", None, "error"),
                                 ("false", False, "ok")]:
        add("rff-" + label, set_path(base, ["rff"], value), expect, "rff = " + label)
    for label, value, expect in [("empty", [], "error"), ("string", "disc", "error"), ("number-item", ["a", 1], "error"),
                                 ("null-item", [None], "error"), ("nested", [["a"]], "error"),
                                 ("empty-name", [""], "either"), ("duplicate-names", ["a", "a"], "either"),
                                 ("many", ["c{}".format(i) for i in range(100000)], "either"),
                                 ("huge-name", ["n" * (1 << 20), "square"], "either")]:
        add("class_names-" + label, set_path(base, ["class_names"], value), expect, "class_names " + label)
    for label, value, expect in [("string", "256", "error"), ("list", [256, 64], "error"), ("size-missing", {"overlap": 4}, "error"),
                                 ("size-small", {"size": 31, "overlap": 4}, "error"),
                                 ("size-int32-max", {"size": INT32_MAX, "overlap": 4}, "either"),
                                 ("overlap-negative", {"size": 64, "overlap": -1}, "error"),
                                 ("overlap-equals-size", {"size": 64, "overlap": 64}, "error"),
                                 ("overlap-above-size", {"size": 64, "overlap": 1000}, "error"),
                                 ("overlap-float", {"size": 64, "overlap": 4.5}, "error")]:
        add("tile-" + label, set_path(base, ["tile"], value), expect, "tile " + label)
    for label, value, expect in [("number", 5, "error"), ("list", ["a"], "error"), ("short", "abc", "either"),
                                 ("empty", "", "either"), ("wrong", "0" * 64, "either")]:
        add("tail_sha256-" + label, set_path(base, ["tail_sha256"], value), expect, "tail_sha256 " + label)

    # Structure: nesting, sizes, encodings, truncation.
    def nested(depth):
        return "[" * depth + "]" * depth

    text = dump(base)
    for depth, expect in [(60, "ok"), (64, "either"), (65, "error"), (100000, "error")]:
        add("nesting-{}".format(depth), text[:-1] + ', "deep": ' + nested(depth) + "}", expect,
            "an unknown field nested {} levels deep".format(depth))
    add("nesting-objects-100000", text[:-1] + ', "deep": ' + '{"a": ' * 100000 + "1" + "}" * 100000 + "}", "error",
        "100000 nested objects")
    add("huge-number-literal", text[:-1] + ', "n": 1' + "0" * 100000 + "}", "either", "a 100001-digit integer")
    add("huge-fraction-literal", text[:-1] + ', "n": 0.' + "0" * 100000 + "1}", "either", "a 100000-digit fraction")
    add("huge-exponent", text[:-1] + ', "n": 1e99999999999999999999}', "error", "an exponent beyond any double")
    add("huge-string", text[:-1] + ', "s": "' + "x" * (4 << 20) + '"}', "either", "a 4 MiB string")
    add("many-keys", text[:-1] + "".join(', "k{}": {}'.format(i, i) for i in range(50000)) + "}", "either",
        "50000 unknown keys")
    add("duplicate-key", text[:-1] + ', "input_size": 64}', "either", "input_size twice (the last wins)")
    add("nul-in-string", set_path(base, ["class_names"], ["a\u0000b", "c"]), "either", "a NUL inside a class name")
    add("raw-control-char", text.replace('"disc"', '"di\tsc"'), "error", "a raw tab inside a string")
    add("lone-high-surrogate", text.replace('"disc"', '"\\ud800"'), "either", "an unpaired surrogate escape")
    add("bad-surrogate-pair", text.replace('"disc"', '"\\ud800\\u0041"'), "error", "a high surrogate before a non-low")
    add("truncated-escape", text.replace('"disc"', '"\\u12"'), "error", "a short \\u escape")
    add("bad-escape", text.replace('"disc"', '"\\x41"'), "error", "an escape JSON does not have")
    add("single-quotes", text.replace('"disc"', "'disc'"), "error", "single-quoted string")
    add("comment", "// model\n" + text, "error", "a comment")
    add("trailing-comma", text[:-1] + ",}", "error", "a trailing comma")
    add("trailing-garbage", text + " x", "error", "text after the document")
    add("two-documents", text + text, "error", "two documents")
    add("leading-plus", text.replace('"input_size": 128', '"input_size": +128'), "error", "+128")
    add("leading-zero", text.replace('"input_size": 128', '"input_size": 0128'), "error", "0128")
    add("hex-number", text.replace('"input_size": 128', '"input_size": 0x80'), "error", "0x80")
    add("minus-only", text.replace('"input_size": 128', '"input_size": -'), "error", "a lone minus sign")
    add("dot-only", text.replace('"input_size": 128', '"input_size": 128.'), "error", "128.")
    add("exponent-only", text.replace('"input_size": 128', '"input_size": 1e'), "error", "1e")
    for i, doc_text in enumerate(["", " ", "\n\t", "null", "true", "1", "\"fassst\"", "[]", "{}", "[{}]", "{\"version\": 1}"]):
        add("not-an-object-{}".format(i), doc_text, "error", "document {!r}".format(doc_text))
    add_bytes("bom", b"\xef\xbb\xbf" + text.encode(), "either", "a UTF-8 byte order mark")
    add_bytes("invalid-utf8", text.replace('"disc"', '"d\x00isc"').encode().replace(b"\x00", b"\xff\xfe"), "either",
              "invalid UTF-8 bytes inside a string")
    add_bytes("nul-byte", text.encode()[:40] + b"\x00" + text.encode()[40:], "error", "a NUL byte between tokens")
    add_bytes("utf16", text.encode("utf-16"), "error", "UTF-16 text")
    cuts = sorted(rng.sample(range(1, len(text) - 1), 12))
    for cut in cuts:
        add("truncated-at-{}".format(cut), text[:cut], "error", "the document cut after {} bytes".format(cut))
    for i in range(12):
        data = bytearray(text.encode())
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        add_bytes("byte-flips-{}".format(i), bytes(data), "either", "1 to 4 random bytes replaced")
    return items


# ---------------------------------------------------------------- ROI kernels

def roi_items(rng):
    items = []

    def add(ident, op, shapes, out_size, strides, rois, expect, why, fill="random", threads=1):
        items.append({"id": ident, "op": op, "shapes": shapes, "out_size": out_size,
                      "strides": [f32(s) for s in strides], "rois": [[f32(v) for v in r] for r in rois],
                      "fill": fill, "threads": threads, "expect": expect, "why": why})

    pyramid = [[1, 4, 16, 16], [1, 4, 8, 8], [1, 4, 4, 4]]
    strides = [8.0, 16.0, 32.0]
    good_roi = [0, 16, 16, 96, 96]
    for op in ("crop", "fuse"):
        shapes = pyramid if op == "fuse" else pyramid[:1]
        st = strides if op == "fuse" else strides[:1]
        S = 8

        def one(ident, expect, why, rois=None, shapes_=None, out=S, strides_=None, fill="random", threads=1):
            add("{}-{}".format(op, ident), op, shapes_ if shapes_ is not None else shapes, out,
                strides_ if strides_ is not None else st, rois if rois is not None else [good_roi], expect, why,
                fill=fill, threads=threads)

        one("valid", "ok", "a box inside the map")
        one("no-rois", "ok", "K = 0", rois=[])
        # strides
        for label, value, expect in [("zero", 0.0, "error"), ("negative", -8.0, "error"), ("nan", float("nan"), "error"),
                                     ("inf", float("inf"), "error"), ("minus-inf", float("-inf"), "error"),
                                     ("denormal", 1e-40, "error"), ("smallest-denormal", 1.4e-45, "error"),
                                     ("tiny", 1e-30, "either"), ("huge", 3e38, "either"), ("max", FLOAT32_MAX, "either"),
                                     ("fraction", 0.25, "either")]:
            s = list(st)
            s[0] = value
            one("stride0-" + label, expect, "stride {} = {}".format(0, label), strides_=s)
        if op == "fuse":
            one("stride2-denormal", "error", "p3's stride a denormal", strides_=[8.0, 16.0, 1e-40])
        # ROI rows
        for label, row, expect in [
                ("nan-x1", [0, float("nan"), 16, 96, 96], "error"), ("inf-x2", [0, 16, 16, float("inf"), 96], "error"),
                ("minus-inf-y1", [0, 16, float("-inf"), 96, 96], "error"), ("nan-batch", [float("nan"), 16, 16, 96, 96], "error"),
                ("inf-batch", [float("inf"), 16, 16, 96, 96], "error"), ("batch-1", [1, 16, 16, 96, 96], "error"),
                ("batch-negative", [-1, 16, 16, 96, 96], "error"), ("batch-half", [0.5, 16, 16, 96, 96], "error"),
                ("batch-2^31", [2.0**31, 16, 16, 96, 96], "error"), ("batch-2^63", [2.0**63, 16, 16, 96, 96], "error"),
                ("batch-1e38", [1e38, 16, 16, 96, 96], "error"), ("batch-minus-zero", [-0.0, 16, 16, 96, 96], "ok"),
                ("huge-box", [0, -3e38, -3e38, 3e38, 3e38], "either"), ("huge-corner", [0, 3e38, 3e38, 3e38, 3e38], "either"),
                ("huge-inverted", [0, 3e38, 3e38, -3e38, -3e38], "either"), ("max-box", [0, -FLOAT32_MAX, 0, FLOAT32_MAX, 96], "either"),
                ("2^31-box", [0, 0, 0, 2.0**31, 2.0**31], "either"), ("1e20-offmap", [0, 1e20, 1e20, 1e20 + 1e15, 1e20 + 1e15], "either"),
                ("minus-1e20-box", [0, -1e20, -1e20, 10, 10], "either"), ("empty-box", [0, 50, 50, 50, 50], "ok"),
                ("inverted-box", [0, 96, 96, 16, 16], "ok"), ("off-map", [0, 5000, 5000, 6000, 6000], "ok"),
                ("denormal-box", [0, 1e-40, 1e-40, 2e-40, 2e-40], "ok"), ("tiny-box", [0, 50, 50, 50.0001, 50.0001], "ok")]:
            one("roi-" + label, expect, "ROI row " + label, rois=[row])
        one("rois-mixed-bad-last", "error", "50 good rows then a NaN", rois=[good_roi] * 50 + [[0, float("nan"), 0, 1, 1]])
        # shapes at the edges
        one("map-1x1", "ok", "1 x 1 maps", shapes_=[[1, 2, 1, 1]] * (3 if op == "fuse" else 1))
        one("map-1xwide", "ok", "1 x 4096 maps", shapes_=[[1, 1, 1, 4096], [1, 1, 1, 2048], [1, 1, 1, 1024]][:len(shapes)],
            rois=[[0, 0, 0, 32768, 8]])
        one("map-tallx1", "ok", "4096 x 1 maps", shapes_=[[1, 1, 4096, 1], [1, 1, 2048, 1], [1, 1, 1024, 1]][:len(shapes)],
            rois=[[0, 0, 0, 8, 32768]])
        one("batch-3", "ok", "three images, a box on each",
            shapes_=[[3] + s[1:] for s in shapes], rois=[[b, 8, 8, 64, 64] for b in range(3)])
        one("batch-3-index-3", "error", "batch index 3 of 3 images", shapes_=[[3] + s[1:] for s in shapes],
            rois=[[3, 8, 8, 64, 64]])
        one("channels-257", "ok", "257 channels", shapes_=[[1, 257] + s[2:] for s in shapes])
        for label, bad in [("zero-batch", [0, 4, 16, 16]), ("zero-channels", [1, 0, 16, 16]), ("zero-height", [1, 4, 0, 16]),
                           ("zero-width", [1, 4, 16, 0]), ("negative-height", [1, 4, -16, 16]),
                           ("negative-batch", [-1, 4, 16, 16]), ("negative-channels", [1, -4, 16, 16])]:
            one("shape-" + label, "error", "p1 " + label, shapes_=[bad] + shapes[1:])
        if op == "fuse":
            one("levels-batch-mismatch", "error", "p2 has another batch", shapes_=[pyramid[0], [2, 4, 8, 8], pyramid[2]])
            one("levels-channels-mismatch", "error", "p3 has other channels", shapes_=[pyramid[0], pyramid[1], [1, 3, 4, 4]])
            one("levels-bigger-coarse", "either", "p3 larger than p1", shapes_=[[1, 4, 4, 4], [1, 4, 8, 8], [1, 4, 16, 16]])
            for out in (0, -4, 2, 6, 1):
                one("out-size-{}".format(out), "error", "output_size {} is not a positive multiple of 4".format(out), out=out)
            one("out-size-huge-no-rois", "either", "output_size 2^30 with K = 0", out=2**30, rois=[])
            one("out-size-int-max-no-rois", "either", "output_size INT32_MAX (not a multiple of 4)", out=INT32_MAX, rois=[])
        else:
            for out in (0, -1):
                one("out-size-{}".format(out), "error", "output_size {}".format(out), out=out)
            one("out-size-1", "ok", "output_size 1", out=1)
            one("out-size-3", "ok", "an odd output_size", out=3)
            one("out-size-huge-no-rois", "either", "output_size 2^30 with K = 0", out=2**30, rois=[])
        one("out-size-1024", "ok", "a 1024 x 1024 output", out=1024)
        # feature values
        for fill in ("zeros", "nan", "inf", "huge", "denormal"):
            one("fill-" + fill, "ok", "feature maps full of " + fill, fill=fill)
        # thread counts
        for threads in (0, 2, 3, 64, 100000, -1, -100000):
            one("threads-{}".format(threads), "either", "num_threads = {}".format(threads),
                rois=[[0, 8 * i, 8, 8 * i + 40, 90] for i in range(16)], threads=threads)
        # random valid boxes (a property check: output bounded by the inputs)
        for i in range(15):
            k = rng.randint(1, 40)
            rois = []
            for _ in range(k):
                x1, y1 = rng.uniform(-200, 300), rng.uniform(-200, 300)
                rois.append([0, x1, y1, x1 + rng.uniform(-50, 400), y1 + rng.uniform(-50, 400)])
            h, w = rng.randint(1, 40), rng.randint(1, 40)
            sh = [[1, rng.randint(1, 9), h, w]]
            if op == "fuse":
                sh += [[1, sh[0][1], max(1, h // 2), max(1, w // 2)], [1, sh[0][1], max(1, h // 4), max(1, w // 4)]]
            one("random-{}".format(i), "ok", "random boxes, some off the map, inverted or empty", rois=rois,
                shapes_=sh, out=4 * rng.randint(1, 8))
    return items


# ---------------------------------------------------------------- frames

FORMATS = ["bgr", "rgb", "bgra", "rgba", "gray8", "gray16"]


def frame(w, h, fmt="bgr", stride=0, fill="random", data_null=False):
    return {"width": w, "height": h, "stride": stride, "format": fmt, "fill": fill, "data_null": data_null}


def rule(kind, low=0.0, high=0.0, lo=0.0, hi=0.0):
    return {"kind": kind, "low": f64(low), "high": f64(high), "min": f64(lo), "max": f64(hi)}


PERCENTILE = rule("percentile", 0.5, 99.5)


def frame_items(rng):
    items = []

    def add(ident, call, fr, expect, why, size=128, rule_=PERCENTILE, threads=1):
        items.append({"id": ident, "call": call, "frame": fr, "size": size, "rule": rule_, "threads": threads,
                      "expect": expect, "why": why})

    for fmt in FORMATS:
        add("preprocess-1x1-" + fmt, "preprocess", frame(1, 1, fmt), "ok", "a 1 x 1 frame, " + fmt)
        add("preprocess-wide-" + fmt, "preprocess", frame(5000, 1, fmt), "ok", "a 5000 x 1 frame, " + fmt)
        add("preprocess-tall-" + fmt, "preprocess", frame(1, 5000, fmt), "ok", "a 1 x 5000 frame, " + fmt)
        add("preprocess-padded-" + fmt, "preprocess", frame(33, 17, fmt, stride=33 * 8 + 5),
            "error" if fmt == "gray16" else "ok",
            "rows padded to an odd stride, " + fmt + (" (refused: 16-bit rows would start misaligned)" if fmt == "gray16" else ""))
        add("preprocess-stride-short-" + fmt, "preprocess", frame(33, 17, fmt, stride=1), "error", "stride below a row")
        add("preprocess-stride-negative-" + fmt, "preprocess", frame(33, 17, fmt, stride=-64), "error", "negative stride")
        add("preprocess-huge-stride-one-row-" + fmt, "preprocess", frame(7, 1, fmt, stride=2**40), "error",
            "a stride beyond 2 GiB is refused whatever the height")
        add("preprocess-null-" + fmt, "preprocess", frame(8, 8, fmt, data_null=True), "error", "data NULL")
    add("preprocess-stride-overflow", "preprocess", frame(4, 3, "bgr", stride=2**62), "error",
        "stride * height overflows int64 (no buffer can be that large)")
    add("preprocess-stride-int64-max", "preprocess", frame(4, 2, "bgr", stride=2**63 - 1), "error",
        "stride INT64_MAX with two rows")
    for w, h in [(0, 0), (0, 5), (5, 0), (-1, 5), (5, -1), (-2147483648, 1)]:
        add("preprocess-size-{}x{}".format(w, h), "preprocess", frame(w, h), "error", "frame {} x {}".format(w, h))
    for fmt in (6, 99, -1, 2**31 - 1):
        add("preprocess-format-{}".format(fmt), "preprocess", dict(frame(4, 4), format=fmt), "error",
            "pixel format {} does not exist".format(fmt))
    for size in (1, 2, 31, 4096):
        add("letterbox-size-{}".format(size), "letterbox", frame(300, 200), "ok", "letterbox into {}".format(size),
            size=size)
    for size in (0, -1, -2147483648):
        add("letterbox-size-{}".format(size), "letterbox", frame(30, 20), "error", "letterbox size {}".format(size),
            size=size)
    add("letterbox-extreme-aspect", "letterbox", frame(100000, 1), "ok", "100000 x 1 into 64", size=64)
    add("letterbox-upscale", "letterbox", frame(1, 1), "ok", "1 x 1 into 1024", size=1024)
    for threads in (0, 3, 64, 100000, -5):
        add("letterbox-threads-{}".format(threads), "letterbox", frame(640, 480), "either",
            "num_threads = {}".format(threads), size=256, threads=threads)
    # the 16-bit rule
    for fill in ("zeros", "max", "random", "ramp"):
        for kind_rule in (PERCENTILE, rule("percentile", 0, 100), rule("percentile", 50, 50), rule("window", lo=100, hi=60000),
                          rule("window", lo=500, hi=500)):
            add("map16-{}-{}-{}-{}".format(kind_rule["kind"], kind_rule["low"] or kind_rule["min"],
                                           kind_rule["high"] or kind_rule["max"], fill),
                "map16", frame(37, 23, "gray16", fill=fill), "ok", "16-bit frame ({}) by a valid rule".format(fill),
                rule_=kind_rule)
    add("map16-identity-small", "map16", frame(16, 16, "gray16", fill="small"), "ok", "identity on values <= 255",
        rule_=rule("identity"))
    add("map16-identity-large", "map16", frame(16, 16, "gray16", fill="max"), "error", "identity on 65535",
        rule_=rule("identity"))
    add("map16-no-rule", "map16", frame(16, 16, "gray16"), "error", "no 16-bit rule", rule_=rule(""))
    add("map16-unknown-rule", "map16", frame(16, 16, "gray16"), "error", "rule 'gamma'", rule_=rule("gamma"))
    for label, r in [("percentile-nan-low", rule("percentile", float("nan"), 99.5)),
                     ("percentile-nan-high", rule("percentile", 0.5, float("nan"))),
                     ("percentile-inf-high", rule("percentile", 0.5, float("inf"))),
                     ("percentile-minus-inf-low", rule("percentile", float("-inf"), 99.5)),
                     ("percentile-negative", rule("percentile", -10, 99.5)),
                     ("percentile-above-100", rule("percentile", 0.5, 1000)),
                     ("window-nan", rule("window", lo=float("nan"), hi=1000)),
                     ("window-inf", rule("window", lo=0, hi=float("inf")))]:
        for w, h in [(1, 1), (19, 7)]:
            add("map16-{}-{}x{}".format(label, w, h), "map16", frame(w, h, "gray16"), "error",
                "a non-finite or out-of-range 16-bit rule ({}) on a {} x {} frame".format(label, w, h), rule_=r)
    add("map16-percentile-1e308", "map16", frame(2000, 3, "gray16"), "error",
        "percentile 1e308: (n - 1) * q / 100 is infinite", rule_=rule("percentile", 0.5, 1e308))
    add("preprocess-gray16-nan-rule", "preprocess", frame(1, 1, "gray16"), "error",
        "a NaN percentile reaching preprocess_frames", rule_=rule("percentile", float("nan"), 99.5))
    add("preprocess-gray16-no-rule", "preprocess", frame(4, 4, "gray16"), "error", "16-bit frame, model without a rule",
        rule_=rule(""))
    for i in range(10):
        w, h = rng.randint(1, 300), rng.randint(1, 300)
        fmt = FORMATS[rng.randrange(len(FORMATS))]
        bpp = {"bgr": 3, "rgb": 3, "bgra": 4, "rgba": 4, "gray8": 1, "gray16": 2}[fmt]
        add("preprocess-random-{}".format(i), "preprocess",
            frame(w, h, fmt, stride=rng.choice([0, w * bpp, w * bpp + bpp * rng.randint(1, 32)])), "ok",
            "a random valid frame", size=rng.choice([32, 64, 96, 128]))
    return items


# ---------------------------------------------------------------- the pipeline

def backend(**kw):
    b = {"boxes": "grid", "scores": "random", "pyramid": "ok", "tail": "random",
         "max_frame_batch": 0, "max_tail_batch": 0}
    b.update(kw)
    return b


def options(**kw):
    return kw


def pipeline_items(rng):
    base = base_metadata()
    items = []

    def add(ident, expect, why, doc=None, opts=None, be=None, frames=None, call="run", tile=None, paste=True):
        items.append({"id": ident, "doc": dump(doc if doc is not None else base), "options": opts or {},
                      "backend": be or backend(), "frames": frames or [frame(160, 120)], "call": call,
                      "tile": tile, "paste": paste, "expect": expect, "why": why})

    add("valid", "ok", "a plain frame")
    add("valid-batch", "ok", "three frames in one call", frames=[frame(64, 48), frame(1, 1, "gray8"), frame(300, 20, "rgba")],
        call="run_batch")
    add("valid-warmup", "ok", "warmup", call="warmup")
    add("valid-tiled", "ok", "a frame tiled by the options", opts=options(tiling="on", tile_size=64, tile_overlap=16),
        frames=[frame(300, 200)])
    add("valid-tiled-model", "ok", "a frame tiled by the model",
        doc=set_path(base, ["tile"], {"size": 64, "overlap": 16}), frames=[frame(200, 130)])
    add("valid-16bit", "ok", "a 16-bit frame through the model's rule", frames=[frame(90, 70, "gray16")])
    add("valid-small-backend-limits", "ok", "the backend takes 1 tile and 1 instance per call",
        be=backend(max_frame_batch=1, max_tail_batch=1), opts=options(tiling="on", tile_size=48),
        frames=[frame(150, 100)])
    add("valid-no-rff", "ok", "a model without RFF (p1 crop only)", doc=set_path(base, ["rff"], False))
    add("valid-select", "ok", "select() alone", call="select")
    # options
    for label, opt, expect in [("score-nan", options(score_threshold="nan"), "error"),
                               ("score-negative", options(score_threshold=-0.5), "error"),
                               ("score-2", options(score_threshold=2.0), "error"),
                               ("nms-nan", options(nms_threshold="nan"), "error"),
                               ("nms-inf", options(nms_threshold="inf"), "error"),
                               ("max-instances-negative", options(max_instances=-1), "error"),
                               ("max-instances-zero", options(max_instances=0), "ok"),
                               ("max-instances-int-max", options(max_instances=INT32_MAX), "error"),
                               ("threads-negative", options(num_threads=-1), "error"),
                               ("threads-int-max", options(num_threads=INT32_MAX), "error"),
                               ("threads-2^20", options(num_threads=2**20), "error"),
                               ("max-batch-0", options(max_batch=0), "error"),
                               ("max-batch-huge", options(max_batch=INT32_MAX), "error"),
                               ("memory-budget-0", options(memory_budget_mib=0), "error"),
                               ("memory-budget-negative", options(memory_budget_mib=-64), "error"),
                               ("memory-budget-int-max", options(memory_budget_mib=INT32_MAX), "error"),
                               ("memory-budget-smallest", options(memory_budget_mib=16), "ok"),
                               ("tiling-bad-enum", options(tiling=7), "error"),
                               ("tile-size-small", options(tiling="on", tile_size=31), "error"),
                               ("tile-overlap-equal", options(tiling="on", tile_size=64, tile_overlap=64), "error"),
                               ("tile-overlap-negative", options(tiling="on", tile_size=64, tile_overlap=-2), "error"),
                               ("tile-size-int-max", options(tiling="on", tile_size=INT32_MAX), "ok")]:
        add("options-" + label, expect, "Segmenter option " + label, opts=opt)
    add("memory-budget-frame-too-large", "error", "a grey frame whose 3-channel copy exceeds the budget",
        opts=options(memory_budget_mib=16), frames=[frame(2400, 2400, "gray8")])
    add("memory-budget-tiles-one-per-call", "ok", "the smallest budget runs a tiled frame's tiles one per call",
        opts=options(memory_budget_mib=16, tiling="on", tile_size=48, max_instances=2), frames=[frame(300, 200)])
    add("tile-call-bad", "error", "a per-call TileSpec with overlap >= size", tile={"tiling": "on", "size": 64, "overlap": 80})
    add("tile-call-bad-enum", "error", "a per-call TileSpec with an unknown Tiling", tile={"tiling": 9, "size": 64, "overlap": 8})
    add("tile-model-overlap-too-big", "error", "the model's tile overlap >= its size",
        doc=set_path(base, ["tile"], {"size": 64, "overlap": 64}), frames=[frame(200, 130)])
    # hostile graph outputs
    for label, be, expect in [("boxes-nan", backend(boxes="nan"), "error"), ("boxes-inf", backend(boxes="inf"), "error"),
                              ("boxes-huge", backend(boxes="huge"), "either"), ("boxes-2^31", backend(boxes="2^31"), "either"),
                              ("boxes-inverted", backend(boxes="inverted"), "ok"), ("boxes-offmap", backend(boxes="offmap"), "ok"),
                              ("boxes-tiny", backend(boxes="tiny"), "ok"), ("boxes-zero", backend(boxes="zero"), "ok"),
                              ("scores-nan", backend(scores="nan"), "error"), ("scores-above-1", backend(scores="above1"), "either"),
                              ("scores-negative", backend(scores="negative"), "either"), ("scores-equal", backend(scores="equal"), "ok"),
                              ("pyramid-wrong-channels", backend(pyramid="wrong_channels"), "error"),
                              ("pyramid-wrong-batch", backend(pyramid="wrong_batch"), "error"),
                              ("pyramid-wrong-levels", backend(pyramid="wrong_levels"), "error"),
                              ("pyramid-null", backend(pyramid="null"), "error"),
                              ("pyramid-device", backend(pyramid="device"), "error"),
                              ("pyramid-1x1", backend(pyramid="1x1"), "ok"),
                              ("boxes-shape", backend(boxes="wrong_shape"), "error"),
                              ("scores-shape", backend(scores="wrong_shape"), "error"),
                              ("boxes-null", backend(boxes="null"), "error"),
                              ("tail-nan", backend(tail="nan"), "ok"), ("tail-inf", backend(tail="inf"), "ok"),
                              ("tail-throws", backend(tail="throws"), "error")]:
        add("backend-" + label, expect, "the backend's output: " + label, be=be)
    add("backend-boxes-huge-tiled", "either", "huge boxes from tiles (the merge shifts them)", be=backend(boxes="huge"),
        opts=options(tiling="on", tile_size=64), frames=[frame(200, 150)])
    # metadata that passes from_json today and reaches the pipeline
    for label, path, value, expect in [
            ("stride-denormal", ["strides"], [1e-40, 16.0, 32.0], "error"),
            ("stride-tiny", ["strides"], [1e-30, 16.0, 32.0], "either"),
            ("stride-zero", ["strides"], [0.0, 16.0, 32.0], "error"),
            ("stride-huge", ["strides"], [8.0, 16.0, 3e38], "either"),
            ("std-denormal", ["input_mapping", "std"], [1e-40, 0.2, 0.2], "either"),
            ("mean-huge", ["input_mapping", "mean"], [3e38, 0, 0], "either"),
            ("input-size-32", ["input_size"], 32, "ok"),
            ("input-size-int-max", ["input_size"], INT32_MAX, "error"),
            ("input-size-65536", ["input_size"], 65536, "error"),
            ("roi-size-4", ["roi_size"], 4, "ok"),
            ("roi-size-huge", ["roi_size"], 2147483644, "error"),
            ("mask-channels-1", ["mask_channels"], 1, "ok"),
            ("grid-size-1", ["grid_size"], 1, "ok"),
            ("grid-size-46341", ["grid_size"], 46341, "error"),
            ("percentile-huge", ["input_mapping", "uint16"], {"kind": "percentile", "low": 0.5, "high": 1e308}, "error")]:
        frames = [frame(90, 70, "gray16")] if label.startswith("percentile") else None
        add("metadata-" + label, expect, "metadata {} = {}".format(".".join(path), value),
            doc=set_path(base, path, raw(repr(value)) if isinstance(value, float) else value), frames=frames)
    # frames through the whole pipeline
    add("frame-1x1", "ok", "1 x 1", frames=[frame(1, 1)])
    add("frame-1x1-tiled", "ok", "1 x 1 with tiling on", frames=[frame(1, 1)], opts=options(tiling="on", tile_size=32))
    add("frame-wide-tiled", "ok", "3000 x 1 tiled", frames=[frame(3000, 1)], opts=options(tiling="on", tile_size=32, tile_overlap=0))
    add("frame-null", "error", "data NULL", frames=[frame(8, 8, data_null=True)])
    add("frame-empty-batch", "ok", "run_batch of no frames", frames=[], call="run_batch")
    add("frame-batch-one-bad", "error", "the third frame of a batch is 0 x 4",
        frames=[frame(10, 10), frame(10, 10), frame(0, 4)], call="run_batch")
    add("frame-gray16-no-rule", "error", "16-bit frame, model without a rule",
        doc=set_path(base, ["input_mapping", "uint16"], None), frames=[frame(10, 10, "gray16")])
    for i in range(8):
        frames = [frame(rng.randint(1, 400), rng.randint(1, 400), FORMATS[rng.randrange(len(FORMATS))])]
        opts = options(tiling="on", tile_size=rng.choice([32, 48, 64, 100]), score_threshold=rng.choice([0.0, 0.1, 0.5]))
        add("random-{}".format(i), "ok", "a random frame, tiled, with random graph outputs", frames=frames, opts=opts,
            be=backend(boxes=rng.choice(["grid", "random", "inverted", "offmap"])))
    return items


# ---------------------------------------------------------------- the C API

def c_api_items(rng):
    items = []
    base = base_metadata()

    def add(ident, steps, why):
        items.append({"id": ident, "steps": steps, "why": why})

    def create(model="tiny", expect="ok", options=None, **kw):
        step = {"call": "create", "model": model, "options": options, "expect": expect}
        step.update(kw)
        return step

    def run(image, expect="ok", **kw):
        step = {"call": "run", "image": image, "expect": expect}
        step.update(kw)
        return step

    img = {"width": 96, "height": 64, "stride": 0, "format": 0, "fill": "random", "data_null": False}
    add("valid", [create(), run(img), {"call": "inspect"}, {"call": "paste", "index": 0, "threshold": 0.5,
                                                            "out_size": "exact", "expect": "either"}],
        "create, run, read every result accessor, paste a mask")
    add("null-out", [create(out_null=True, expect="invalid_argument", mentions="out")], "out NULL")
    add("null-path", [create(model=None, expect="invalid_argument", mentions="model_path")], "model_path NULL")
    add("null-options", [create(options="null"), run(img)], "options NULL means defaults")
    add("empty-path", [create(model="", expect="error")], "an empty path")
    add("missing-file", [create(model="missing", expect="model", mentions="does not exist")], "no such file")
    add("directory", [create(model="directory", expect="error")], "a directory named x.onnx")
    add("unknown-suffix", [create(model="suffix", expect="model", mentions="suffix")], "x.bin")
    add("tail-missing", [create(model="tail_missing", expect="model", mentions="tail")], "no tail graph")
    add("tail-directory", [create(model="tail_directory", expect="model")], "the tail is a directory")
    add("tail-empty", [create(model="tail_empty", expect="model")], "an empty tail file")
    add("tail-devzero", [create(model="tail_devzero", expect="model")],
        "the tail a link to /dev/zero: must be refused (regular files only), not read forever")
    add("tail-fifo", [create(model="tail_fifo", expect="model")], "the tail a FIFO: must be refused, not block")
    add("frame-devzero", [create(model="frame_devzero", expect="model")], "the frame graph a link to /dev/zero")
    add("frame-garbage", [create(model="frame_garbage", expect="model")], "the frame graph 4 kB of random bytes")
    add("frame-empty", [create(model="frame_empty", expect="model")], "an empty frame graph")
    add("frame-truncated", [create(model="frame_truncated", expect="model")], "the frame graph cut in half")
    add("tail-swapped", [create(model="tail_swapped", expect="model")], "the tail is the frame graph")
    opts = {"backend": "auto", "device": "auto", "num_threads": 0, "score_threshold": -1.0, "nms_threshold": -1.0,
            "max_instances": -1, "tiling": -1, "tile_size": 0, "tile_overlap": -1}

    def o(**kw):
        d = dict(opts)
        d.update({k: f64(v) for k, v in kw.items()})
        return d

    for label, kw, expect, mentions in [
            ("score-nan", {"score_threshold": float("nan")}, "invalid_argument", "score_threshold"),
            ("nms-nan", {"nms_threshold": float("nan")}, "invalid_argument", "nms_threshold"),
            ("score-2", {"score_threshold": 2.0}, "invalid_argument", "score_threshold"),
            ("score-inf", {"score_threshold": float("inf")}, "invalid_argument", "score_threshold"),
            ("nms-inf", {"nms_threshold": float("inf")}, "invalid_argument", "nms_threshold"),
            ("tiling-5", {"tiling": 5}, "invalid_argument", "tiling"),
            ("tiling-minus-2", {"tiling": -2}, "invalid_argument", "tiling"),
            ("tile-size-1", {"tiling": 1, "tile_size": 1}, "invalid_argument", "tile"),
            ("tile-overlap-big", {"tiling": 1, "tile_size": 64, "tile_overlap": 64}, "invalid_argument", "overlap"),
            ("backend-unknown", {"backend": "nope"}, "invalid_argument", "backend"),
            ("device-unknown", {"device": "tpu"}, "invalid_argument", "device"),
            ("backend-null", {"backend": None}, "ok", None),
            ("device-null", {"device": None}, "ok", None),
            ("threads-negative", {"num_threads": -3}, "invalid_argument", "num_threads"),
            ("max-instances-zero", {"max_instances": 0}, "ok", None)]:
        step = create(options=o(**kw), expect=expect)
        if mentions:
            step["mentions"] = mentions
        add("options-" + label, [step] + ([run(img)] if expect == "ok" else []), "fassst_options " + label)
    # Thread counts no machine has: refused before any model is read (the
    # model path does not exist, so only the bound check can name the option).
    for threads in (2**20, 2**31 - 1):
        add("options-threads-{}".format(threads),
            [create(model="missing", options=o(num_threads=threads), expect="invalid_argument", mentions="num_threads")],
            "num_threads {} must be refused before the model is opened".format(threads))
    # frames
    for label, image, expect, mentions in [
            ("null-image", None, "invalid_argument", "image"),
            ("null-data", dict(img, data_null=True), "invalid_argument", "data"),
            ("zero-width", dict(img, width=0), "invalid_argument", "image"),
            ("negative-height", dict(img, height=-5), "invalid_argument", "image"),
            ("int-min-width", dict(img, width=-2147483648), "invalid_argument", "image"),
            ("stride-short", dict(img, stride=10), "invalid_argument", "stride"),
            ("stride-negative", dict(img, stride=-288), "invalid_argument", "stride"),
            ("stride-overflow", dict(img, stride=2**62), "invalid_argument", "stride"),
            ("format-99", dict(img, format=99), "invalid_argument", "format"),
            ("format-minus-1", dict(img, format=-1), "invalid_argument", "format"),
            ("1x1", dict(img, width=1, height=1), "ok", None),
            ("1x1-gray16", dict(img, width=1, height=1, format=5), "ok", None),
            ("wide", dict(img, width=4000, height=1), "ok", None),
            ("tall", dict(img, width=1, height=4000), "ok", None),
            ("huge-stride-one-row", dict(img, height=1, stride=2**40), "error", None)] + [
            ("format-{}".format(f), dict(img, format=f, stride=96 * (4 if f in (2, 3) else 1 if f == 4 else 2 if f == 5 else 3) + 7),
             "error" if f == 5 else "ok", None) for f in range(6)]:  # 16-bit rows must stay aligned
        step = run(image, expect=expect)
        if mentions:
            step["mentions"] = mentions
        add("run-" + label, [create(), step], "fassst_segmenter_run with " + label)
    add("run-null-segmenter", [run(img, segmenter="null", expect="invalid_argument", mentions="segmenter")],
        "segmenter NULL")
    add("run-null-out", [create(), run(img, out_null=True, expect="invalid_argument", mentions="out")], "out NULL")
    add("tiled", [create(options=o(tiling=1, tile_size=48, tile_overlap=8)), run(dict(img, width=200, height=150)),
                  {"call": "inspect"}], "a tiled run")
    # results and accessors
    add("null-accessors", [{"call": "null_accessors"}], "every accessor with NULL handles")
    for label, step in [("index-out-of-range", {"call": "paste", "index": 1000000, "threshold": 0.5, "out_size": "exact",
                                               "expect": "invalid_argument", "mentions": "index"}),
                        ("index-size-max", {"call": "paste", "index": 2**64 - 1, "threshold": 0.5, "out_size": "exact",
                                            "expect": "invalid_argument", "mentions": "index"}),
                        ("out-small", {"call": "paste", "index": 0, "threshold": 0.5, "out_size": "small",
                                       "expect": "invalid_argument", "mentions": "out_size"}),
                        ("out-null", {"call": "paste", "index": 0, "threshold": 0.5, "out_size": "null",
                                      "expect": "invalid_argument", "mentions": "out"}),
                        ("threshold-nan", {"call": "paste", "index": 0, "threshold": "nan", "out_size": "exact",
                                           "expect": "either"}),
                        ("threshold-inf", {"call": "paste", "index": 0, "threshold": "-inf", "out_size": "exact",
                                           "expect": "either"}),
                        ("class-name-range", {"call": "class_names", "labels": [-1, 2, 2**31 - 1, -2**31]}),
                        ("timing-stages", {"call": "timing", "stages": [None, "", "frame", "bogus", "x" * 1000]})]:
        add("result-" + label, [create(options=o(score_threshold=0.0)), run(img), step], "result call " + label)
    add("status-strings", [{"call": "status_strings", "codes": [-1, 0, 7, 8, 1000, -2**31]}],
        "fassst_status_string on codes that exist and do not")
    add("destroy-null", [{"call": "destroy_null"}], "destroy and release NULL")
    add("error-then-ok", [create(model="missing", expect="model"), create(), run(img)],
        "the error message is cleared by a later successful call")
    # hostile model files: the tiny model's graphs with another metadata document
    docs = metadata_items(random.Random(1))
    assert MODEL_FILE_ITEMS <= {item["id"] for item in docs}, "MODEL_FILE_ITEMS names a document that does not exist"
    for item in docs:
        if not item["model"]:
            continue
        expect = {"ok": "ok", "error": "error", "either": "either"}[item["expect"]]
        steps = [create(model="doc", doc_text=item.get("text"), doc_hex=item.get("hex"), expect=expect)]
        if item["expect"] != "error":
            steps.append(run(img, expect="either", when_created=True))
        add("model-" + item["id"], steps, "the tiny model carrying metadata: " + item["why"])
    for label, doc in [("input-size-64", set_path(base, ["input_size"], 64)),
                       ("grid-size-7", set_path(base, ["grid_size"], 7)),
                       ("classes-3", set_path(base, ["class_names"], ["a", "b", "c"])),
                       ("mask-channels-8", set_path(base, ["mask_channels"], 8)),
                       ("roi-size-8", set_path(base, ["roi_size"], 8))]:
        if label == "input-size-64":  # the graph's input is static: refused at load
            steps = [create(model="doc", doc_text=dump(doc), expect="model", mentions="input_size")]
        else:  # symbolic output dimensions: found when the graph first runs
            steps = [create(model="doc", doc_text=dump(doc), expect="either"),
                     run(img, expect="model", when_created=True)]
        add("model-mismatch-" + label, steps, "metadata that disagrees with the tiny graphs: " + label)
    return items


SURFACES = [("metadata", metadata_items), ("roi", roi_items), ("frames", frame_items),
            ("pipeline", pipeline_items), ("c_api", c_api_items)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="directory to write the .jsonl files into")
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, make in SURFACES:
        items = make(random.Random("{}:{}".format(args.seed, name)))
        ids = [item["id"] for item in items]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SystemExit("make_corpus: duplicate ids in {}: {}".format(name, dupes))
        path = os.path.join(args.out, name + ".jsonl")
        with open(path + ".tmp", "w", encoding="ascii") as f:
            for item in items:
                f.write(json.dumps(item, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n")
        os.replace(path + ".tmp", path)
        total += len(items)
        print("{}: {} items".format(path, len(items)))
    print("make_corpus: {} items (seed {})".format(total, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
