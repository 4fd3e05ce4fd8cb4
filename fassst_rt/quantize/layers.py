"""Layers by role, found from the graphs' structure (not from node names,
which depend on the exporter): the layers a quantization may keep in float.

Roles (frame graph unless said):

| role          | what                                                                 |
|---------------|----------------------------------------------------------------------|
| ``stem``      | the first convolution, on the normalised image                      |
| ``iam_head``  | the IAM's last convolution, whose output becomes boxes and scores   |
| ``box_decode``| the elementwise operators between it and ``boxes`` / ``scores`` (exp, grid offsets, sigmoid) |
| ``pyramid_heads`` | the last convolution before each of p1, p2, p3                  |
| ``grid_pool`` | a stride-grid model's grid pooling (MatMuls by constant matrices) |
| ``tail_deconv`` | the tail's transposed convolution (the 2x upsampling)             |
| ``tail_last`` | the tail's last weighted layer, which writes the mask logits        |
"""

from typing import Dict, Iterable, List, Sequence, Set

from ..model_files import FRAME_INPUT, PYRAMID_OUTPUTS, TAIL_OUTPUT

WEIGHTED = ("Conv", "ConvTranspose", "MatMul", "Gemm")
FRAME_ROLES = ("stem", "iam_head", "box_decode", "pyramid_heads", "grid_pool")
TAIL_ROLES = ("tail_deconv", "tail_last")
ROLES = FRAME_ROLES + TAIL_ROLES


def _producers(graph) -> Dict[str, object]:
    return {out: node for node in graph.node for out in node.output}


def _walk_back(graph, outputs: Sequence[str]):
    """From graph outputs back to the weighted layers that feed them: (those
    weighted nodes, the nodes passed on the way)."""
    producers = _producers(graph)
    constants = {i.name for i in graph.initializer}
    weighted, passed = [], []  # type: List[object], List[object]
    seen = set()  # type: Set[str]
    stack = list(outputs)
    while stack:
        tensor = stack.pop()
        node = producers.get(tensor)
        if node is None or tensor in constants or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type in WEIGHTED:
            weighted.append(node)
            continue
        if node.op_type == "Constant":
            continue
        passed.append(node)
        stack.extend(node.input)
    return weighted, passed


def frame_roles(graph) -> Dict[str, List[str]]:
    """Role -> node names of the frame graph."""
    heads, decode = _walk_back(graph, ["boxes", "scores"])
    pyramid = []  # type: List[str]
    for level in PYRAMID_OUTPUTS:
        weighted, _ = _walk_back(graph, [level])
        pyramid += [n.name for n in weighted]
    stem = [n.name for n in graph.node if n.op_type in WEIGHTED and FRAME_INPUT in n.input]
    constants = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant"
                                                      for o in n.output}
    pool = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in constants for i in n.input)]
    return {"stem": stem, "iam_head": [n.name for n in heads], "box_decode": [n.name for n in decode],
            "pyramid_heads": pyramid, "grid_pool": pool}


def tail_roles(graph) -> Dict[str, List[str]]:
    """Role -> node names of the tail graph."""
    last, _ = _walk_back(graph, [TAIL_OUTPUT])
    return {"tail_deconv": [n.name for n in graph.node if n.op_type == "ConvTranspose"],
            "tail_last": [n.name for n in last]}


def check_roles(roles: Iterable[str]) -> List[str]:
    roles = list(roles)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError("--float: unknown layer role(s) {}; the roles are {}".format(
            ", ".join(unknown), ", ".join(ROLES)))
    return roles
