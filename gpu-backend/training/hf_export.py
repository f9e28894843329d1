"""Writes the trained model as a classic Hugging Face Qwen2MoE checkpoint and proves that it reloads.

Why classic: released Qwen1.5-MoE checkpoints (the format PickBan's converter reads) store one tensor per
expert (`mlp.experts.{e}.gate_proj.weight`, ...). transformers 5 keeps experts fused in memory
(`mlp.experts.gate_up_proj` [E, 2I, H], `mlp.experts.down_proj` [E, H, I]), so we split them on save and
then reload the files with `from_pretrained` and compare logits, which catches any layout mistake.
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import Qwen2MoeForCausalLM

FUSED_GATE_UP, FUSED_DOWN = "mlp.experts.gate_up_proj", "mlp.experts.down_proj"
LAYOUTS = ("E,2I,H", "E,H,2I")  # transformers' fused layout, and its transpose as a fallback guess


def to_classic_state_dict(state_dict, layout):
    out = {}
    for name, tensor in state_dict.items():
        if name.endswith(FUSED_GATE_UP):
            prefix = name[: -len("gate_up_proj")]
            gate_up = tensor if layout == "E,2I,H" else tensor.transpose(1, 2)
            inter = gate_up.shape[1] // 2
            for e in range(gate_up.shape[0]):
                out[f"{prefix}{e}.gate_proj.weight"] = gate_up[e, :inter].contiguous()
                out[f"{prefix}{e}.up_proj.weight"] = gate_up[e, inter:].contiguous()
        elif name.endswith(FUSED_DOWN):
            prefix = name[: -len("down_proj")]
            down = tensor if layout == "E,2I,H" else tensor.transpose(1, 2)
            for e in range(down.shape[0]):
                out[f"{prefix}{e}.down_proj.weight"] = down[e].contiguous()
        else:
            out[name] = tensor.contiguous()
    return out


def has_fused_experts(state_dict):
    return any(name.endswith(FUSED_GATE_UP) for name in state_dict)


def write_config(model, model_dir, extra):
    """config.json with the fields a converter reads spelled out (rope_theta, head_dim), inference defaults."""
    model.config.save_pretrained(model_dir)
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(extra)
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return config


def write_generation_config(model_dir, eos_ids, pad_id, bos_id):
    # Qwen chat models' sampling defaults; eos covers both the chat end (<|im_end|>) and document end.
    config = {"bos_token_id": bos_id, "eos_token_id": eos_ids, "pad_token_id": pad_id, "do_sample": True,
              "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump(config, f, indent=2)


def reload_and_compare(model_dir, reference, probe_ids):
    reloaded, info = Qwen2MoeForCausalLM.from_pretrained(model_dir, dtype=torch.float32, output_loading_info=True)
    reloaded = reloaded.to(probe_ids.device).eval()
    with torch.no_grad():
        want = reference(input_ids=probe_ids, use_cache=False).logits.float()
        got = reloaded(input_ids=probe_ids, use_cache=False).logits.float()
    return (want - got).abs().max().item(), info, reloaded


MINIMAL_EXTRA_KEYS = ("architectures", "torch_dtype", "output_router_logits", "attention_dropout", "use_cache")


def export_checkpoint(model, model_dir, config_extra, probe_ids, log, tolerance=2e-2):
    """Weights are rounded to bf16 in place first, so `model` afterwards is exactly what ships."""
    os.makedirs(model_dir, exist_ok=True)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    model.eval()
    state = {k: v.detach().to("cpu", torch.bfloat16) for k, v in model.state_dict().items()}
    layouts = LAYOUTS if has_fused_experts(state) else ("as-is",)
    # The spelled-out config keys are extras for our converter; if this transformers rejects them on
    # reload, fall back to the keys it wrote itself.
    minimal = {k: v for k, v in config_extra.items() if k in MINIMAL_EXTRA_KEYS}
    for extra in (config_extra, minimal):
        write_config(model, model_dir, extra)
        for layout in layouts:
            tensors = to_classic_state_dict(state, layout) if layout != "as-is" else state
            save_file(tensors, os.path.join(model_dir, "model.safetensors"), metadata={"format": "pt"})
            try:
                diff, info, reloaded = reload_and_compare(model_dir, model, probe_ids)
            except Exception as error:  # noqa: BLE001 - report and try the next layout
                log(f"export: layout {layout}, config keys {sorted(extra)}: reload failed: {error!r}")
                continue
            log(f"export: layout {layout}: {len(tensors)} tensors, max |logit diff| after reload {diff:.3g}, "
                f"missing {info.get('missing_keys')}, unexpected {info.get('unexpected_keys')}")
            if diff <= tolerance and not info.get("missing_keys"):
                return {"format": "classic-per-expert", "layout": layout, "reload_max_logit_diff": diff,
                        "config_extras": sorted(extra)}, reloaded
    # Last resort: whatever transformers writes itself (still safetensors, still reloadable).
    os.remove(os.path.join(model_dir, "model.safetensors"))
    model.to(torch.bfloat16).save_pretrained(model_dir, safe_serialization=True, max_shard_size="1GB")
    model.float()
    write_config(model, model_dir, minimal)
    diff, info, reloaded = reload_and_compare(model_dir, model, probe_ids)
    log(f"export: fallback save_pretrained: max |logit diff| {diff:.3g}")
    return {"format": "save_pretrained", "reload_max_logit_diff": diff}, reloaded
