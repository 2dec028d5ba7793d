"""Int8 linear layers for CPU scoring: weights per output channel, activations per token.

``quantize="int8"`` replaces every ``nn.Linear`` of a causal LM but its output projection (the
vocabulary head, often tied to the input embeddings) with :class:`Int8Linear`: the weight is
rounded once to int8 with one scale per output channel, and at each call every token's
activation row is rounded to int8 with its own scale; the product is accumulated in int32 by
``torch._int_mm`` (exact integer arithmetic) and scaled back to floating point.

Why not ``torch.ao.quantization.quantize_dynamic``: it scales the activations of a whole batch
by one number (the batch's largest value), so an item's score depends on which items share its
batch -- measured on a linear layer of SmolLM2's shape, scaling another item of the batch by 20
moved the first item's outputs by 0.85 (20 times its quantisation error). With one scale per
token, each token's result depends on that token only, so batch size, padding and grouping
cannot change a score, as for every other setting the project calls score-neutral.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from ...core.errors import ScorerConfigError

#: ``quantize`` choices: ``"none"`` or per-token dynamic int8 linear layers
QUANTIZATIONS = ("none", "int8")


@cache
def _int8_linear_class() -> type:
    import torch

    class Int8Linear(torch.nn.Module):
        """A linear layer with int8 weights (one scale per output channel) and int8 activations
        (one scale per token), accumulated exactly in int32."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            weight = linear.weight.detach().float()
            scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
            self.register_buffer("weight_t", q.t().contiguous())  # (in, out)
            self.register_buffer("weight_scale", scale)
            bias = None if linear.bias is None else linear.bias.detach().float().clone()
            self.register_buffer("bias", bias)
            self.in_features, self.out_features = linear.in_features, linear.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, self.in_features).float()
            scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
            q = torch.round(rows / scale).clamp(-127, 127).to(torch.int8)
            out = torch._int_mm(q, self.weight_t).float() * scale * self.weight_scale
            if self.bias is not None:
                out = out + self.bias
            return out.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, int8"

    return Int8Linear


def quantize_model(who: str, model: Any, how: str, *, copy_first: bool) -> Any:
    """``model`` with its linear layers quantised as ``how`` says (``"none"``: unchanged).

    ``copy_first`` quantises a copy (for a model the caller passed in and still owns). Only
    CPU models are quantised: ``torch._int_mm`` on other devices has shape limits.
    """
    if how not in QUANTIZATIONS:
        raise ScorerConfigError(
            f"{who}: quantize must be one of {', '.join(map(repr, QUANTIZATIONS))} (got {how!r})"
        )
    if how == "none":
        return model
    import torch

    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ScorerConfigError(
            f"{who}: quantize='int8' runs on the CPU only (the model is on {device}); "
            "use dtype='bfloat16' or 'float16' on an accelerator"
        )
    if copy_first:
        model = copy.deepcopy(model)
    Int8Linear = _int8_linear_class()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    ]
    if not targets:
        raise ScorerConfigError(f"{who}: quantize='int8' found no linear layer to quantise")
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear(module))
    return model
