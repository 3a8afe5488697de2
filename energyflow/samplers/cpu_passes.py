"""Graph passes that make the samplers' compiled step fast on CPUs (see `energyflow.samplers.fast_path`).

Both run on inductor's post-grad graph of ``torch.func.grad(E)``, only on CPU tensors:

- `onednn_matmuls`: large fp32 ``mm`` / ``addmm`` go to oneDNN instead of ATen's BLAS. On the
  benchmark's AMD EPYC core MKL's sgemm runs at about 105 GFLOP/s where oneDNN's reaches about
  230-270 (`benchmarks/speed.py` measures both); elsewhere the two are close.
- `input_free_conv_grads`: the input gradient of a convolution never reads the input's values.

Each keeps the maths (fp32 products in fp32; ``allclose`` to eager, as any reordering is).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

#: matrix products at least this large (M*K*N) with K, N >= MIN_ONEDNN_DIM go to oneDNN; below,
#: ATen's BLAS call is as fast or faster (measured on the benchmark CPU)
MIN_ONEDNN_MACS = 2**21
MIN_ONEDNN_DIM = 16


@functools.cache
def onednn_linear() -> Any:
    """``energyflow::onednn_linear(a, w, b) = a @ w.T + b`` by oneDNN, as an opaque op inductor calls
    (its own lowering of oneDNN's linear wants frozen weights; ours are the live parameters).
    Registered on first use; ``None`` where this torch has no oneDNN linear."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and hasattr(torch.library, "custom_op")):
        return None

    @torch.library.custom_op("energyflow::onednn_linear", mutates_args=())
    def linear(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(a.contiguous(), w, b, "none", [], "")

    @linear.register_fake
    def _(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return a.new_empty((a.shape[0], w.shape[0]))

    return torch.ops.energyflow.onednn_linear.default


def onednn_matmuls(graph: torch.fx.Graph) -> None:
    """Post-grad pass: large fp32 CPU ``mm`` / ``addmm`` (1-d bias) become ``energyflow::onednn_linear``."""
    op, aten = onednn_linear(), torch.ops.aten
    if op is None:
        return
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in (aten.mm.default, aten.addmm.default):
            continue
        if node.target is aten.addmm.default:
            if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
                continue
            bias, a, b = node.args[:3]
        else:
            bias, (a, b) = None, node.args[:2]
        va, vb = a.meta.get("val"), b.meta.get("val")
        if va is None or vb is None or va.device.type != "cpu" or {va.dtype, vb.dtype} != {torch.float32}:
            continue
        (m, k), n = va.shape, vb.shape[1]
        if min(k, n) < MIN_ONEDNN_DIM or m * k * n < MIN_ONEDNN_MACS:
            continue
        if bias is not None and (tuple(bias.meta["val"].shape) != (n,) or bias.meta["val"].dtype != torch.float32):
            continue
        with graph.inserting_before(node):
            weight = graph.call_function(aten.permute.default, (b, [1, 0]))
            weight.meta["val"] = vb.t()
            linear = graph.call_function(op, (a, weight, bias))
            linear.meta["val"] = node.meta["val"]
        node.replace_all_uses_with(linear)
        graph.erase_node(node)


def input_free_conv_grads(graph: torch.fx.Graph) -> None:
    """Post-grad pass: a CPU ``convolution_backward`` that computes only the input gradient reads
    nothing of ``input`` but its shape and layout, so it gets an unwritten channels-last stand-in.
    The real input, often kept in a second (NCHW) copy just for this call, is then never written,
    and oneDNN runs the gradient all channels-last instead of reordering a mixed-layout call."""
    conv_backward = torch.ops.aten.convolution_backward.default
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not conv_backward or list(node.args[-1]) != [True, False, False]:
            continue
        inp = node.args[1]
        val = inp.meta.get("val")
        if val is None or val.dim() != 4 or val.device.type != "cpu":
            continue
        stride = _channels_last_strides(tuple(val.shape))
        with graph.inserting_before(node):
            stand_in = graph.call_function(torch.ops.aten.empty_strided.default, (list(val.shape), list(stride)),
                                           {"dtype": val.dtype, "device": val.device})
            stand_in.meta["val"] = val.new_empty_strided(tuple(val.shape), stride)
        node.replace_input_with(inp, stand_in)


def _channels_last_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    _, c, h, w = shape
    return (h * w * c, 1, w * c, c)


PASSES = {"onednn_matmuls": onednn_matmuls, "input_free_conv_grads": input_free_conv_grads}


def inductor_options(passes: tuple[str, ...] = tuple(PASSES)) -> dict[str, Any]:
    """``torch.compile`` options that add ``passes`` (by name; none where this torch cannot take them)."""
    if not passes:
        return {}
    try:
        from torch._inductor.custom_graph_pass import CustomGraphPass
    except ImportError:
        return {}
    chosen = [PASSES[name] for name in passes]

    class CpuPasses(CustomGraphPass):
        def __call__(self, graph: torch.fx.Graph) -> None:
            for run in chosen:
                run(graph)

        def uuid(self) -> str:  # part of inductor's cache key
            return f"energyflow-cpu-passes-3-{'+'.join(passes)}-{MIN_ONEDNN_MACS}-{MIN_ONEDNN_DIM}"

    return {"post_grad_custom_post_pass": CpuPasses()}
