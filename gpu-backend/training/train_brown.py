"""Trains PickBan's default model: a small Qwen2MoE with its own 8K byte-level BPE, on the Brown corpus.

    python3 gpu-backend/training/train_brown.py --data .pickban/brown --out /tmp/pickban-model --minutes 6.5

Input: the JSONL splits written by prepare-brown.ts. Output (--out): config.json, model.safetensors (bf16,
classic per-expert Qwen2MoE keys), generation_config.json, tokenizer.json, tokenizer_config.json, and
metrics.json (loss curve, held-out perplexity per genre group, samples). See README.md beside this file.
"""
import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import Qwen2MoeConfig, Qwen2MoeForCausalLM

from brown_data import (ENDOFTEXT, IM_END, PackedStream, chat_samples, encode_all, eval_windows, load_split,
                        render_chat, tokenizer_config, train_tokenizer)
from hf_export import export_checkpoint, write_generation_config

T0 = time.time()


def log(message):
    print(f"[{time.time() - T0:7.1f}s] {message}", flush=True)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=".pickban/brown")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=6.5, help="wall-clock budget of the training loop")
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--dropout", type=float, default=0.2, help="residual-branch dropout (training only)")
    p.add_argument("--chat-share", type=float, default=0.15, help="ChatML samples, as a share of plain tokens")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=1234)
    # Architecture: real Qwen2MoE (top-k routed experts, shared expert behind a sigmoid gate, q/k/v bias),
    # small enough that the bf16 checkpoint stays under ~30 MB.
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--experts", type=int, default=16)
    p.add_argument("--top-k", type=int, default=4)
    p.add_argument("--moe-inter", type=int, default=128)
    p.add_argument("--shared-inter", type=int, default=384)
    return p.parse_args()


def build_config(args, attention_dropout):
    return Qwen2MoeConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.shared_inter,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
        max_position_embeddings=args.ctx * 4, rms_norm_eps=1e-6, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        attention_dropout=attention_dropout, decoder_sparse_step=1, mlp_only_layers=[],
        moe_intermediate_size=args.moe_inter, shared_expert_intermediate_size=args.shared_inter,
        num_experts=args.experts, num_experts_per_tok=args.top_k, norm_topk_prob=False,
        output_router_logits=True, router_aux_loss_coef=0.01, qkv_bias=True,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )


def add_dropout_hooks(model, p):
    """Dropout on embeddings and on each attention/MoE branch before it joins the residual stream.
    Brown is ~1.2M tokens, far less than this model can memorise; hooks keep the saved architecture stock."""
    def hook(module, inputs, output):
        if isinstance(output, tuple):
            return (F.dropout(output[0], p, module.training),) + tuple(output[1:])
        return F.dropout(output, p, module.training)
    handles = [model.model.embed_tokens.register_forward_hook(hook)]
    for layer in model.model.layers:
        handles += [layer.self_attn.register_forward_hook(hook), layer.mlp.register_forward_hook(hook)]
    return handles


@torch.no_grad()
def mean_nll(model, windows, device, batch=32):
    """Mean next-token NLL (nats) over non-overlapping windows; a window's first token is not scored."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(windows), batch):
        x = windows[start:start + batch].to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x, use_cache=False).logits
        total += F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                 reduction="sum").item()
        count += x[:, 1:].numel()
    return total / max(count, 1)


def lr_at(args, step, fraction):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0))))


def train(model, args, stream, val_windows, device):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    hooks = add_dropout_hooks(model, args.dropout)
    budget = args.minutes * 60
    curve, best = [], {"val_loss": float("inf"), "step": -1, "state": None}
    start, step, running, running_aux = time.time(), 0, 0.0, 0.0
    for x in stream.batches(device):
        fraction = (time.time() - start) / budget
        if fraction >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(args, step, fraction)
        model.train()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(input_ids=x, labels=x, use_cache=False, output_router_logits=True)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        aux = float(out.aux_loss) if getattr(out, "aux_loss", None) is not None else 0.0
        running += out.loss.item() - model.config.router_aux_loss_coef * aux  # cross-entropy alone
        running_aux += aux
        if step % args.eval_every == 0:
            val = mean_nll(model, val_windows, device)
            point = {"step": step, "epoch": round(step * x.numel() / stream.num_tokens, 2),
                     "seconds": round(time.time() - start, 1), "lr": opt.param_groups[0]["lr"],
                     "train_loss": round(running / args.eval_every, 4),
                     "aux_loss": round(running_aux / args.eval_every, 4),
                     "val_loss": round(val, 4), "val_ppl": round(math.exp(val), 2)}
            curve.append(point)
            log(json.dumps(point))
            running = running_aux = 0.0
            if val < best["val_loss"]:
                best = {"val_loss": val, "step": step,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    for h in hooks:
        h.remove()
    log(f"trained {step} steps in {time.time() - start:.0f}s; best val loss {best['val_loss']:.4f} at step {best['step']}")
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return curve, {"steps": step, "best_step": best["step"], "best_val_loss": best["val_loss"],
                   "tokens_per_step": args.batch * args.ctx, "train_tokens": stream.num_tokens}


def perplexity_report(model, tokenizer, test_docs, ctx, device):
    report = {"windows_of": ctx, "groups": {}, "genres": {}}
    for key in ("group", "genre"):
        for name in sorted({d[key] for d in test_docs}):
            docs = [d for d in test_docs if d[key] == name]
            windows = eval_windows(encode_all(tokenizer, [d["text"] for d in docs]), ctx)
            nll = mean_nll(model, windows, device)
            report["groups" if key == "group" else "genres"][name] = {
                "ppl": round(math.exp(nll), 2), "docs": len(docs), "scored_tokens": int(windows[:, 1:].numel())}
    windows = eval_windows(encode_all(tokenizer, [d["text"] for d in test_docs]), ctx)
    report["all"] = {"ppl": round(math.exp(mean_nll(model, windows, device)), 2), "docs": len(test_docs)}
    return report


def samples(model, tokenizer, device):
    eos = [tokenizer.token_to_id(IM_END), tokenizer.token_to_id(ENDOFTEXT)]
    prompts = ["The jury said that", "She looked at him and", "The purpose of this study is",
               render_chat([{"role": "user", "content": "Tell me about the city at night."}], True),
               render_chat([{"role": "user", "content": "Continue this text: The old man walked slowly down the road."}], True)]
    out = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt).ids], device=device)
        for mode, kwargs in (("greedy", {"do_sample": False}), ("sampled", {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20})):
            with torch.no_grad():
                gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=60,
                                     eos_token_id=eos, pad_token_id=0, repetition_penalty=1.05, **kwargs)
            text = tokenizer.decode(gen[0, ids.shape[1]:].tolist(), skip_special_tokens=False)
            out.append({"prompt": prompt, "mode": mode, "completion": text})
            log(f"sample [{mode}] {prompt!r} -> {text!r}")
    return out


def main():
    args = parse_args()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    device = "cuda"
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}")
    train_docs, val_docs, test_docs = (load_split(os.path.join(args.data, f"{s}.jsonl")) for s in ("train", "val", "test"))
    os.makedirs(args.out, exist_ok=True)

    tokenizer = train_tokenizer([d["text"] for d in train_docs], args.vocab)
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config(args.ctx * 4), f, indent=2)
    probe = "The Fulton County Grand Jury said Friday: \"no evidence\" -- 1,200 people."
    if tokenizer.decode(tokenizer.encode(probe).ids) != probe:
        log("WARNING: tokenizer does not round-trip the probe sentence")
    log(f"tokenizer: {tokenizer.get_vocab_size()} tokens; probe -> {len(tokenizer.encode(probe).ids)} ids")

    rng = random.Random(args.seed)
    plain = encode_all(tokenizer, [d["text"] for d in train_docs])
    plain_tokens = sum(map(len, plain))
    chats = encode_all(tokenizer, chat_samples(train_docs, rng))
    rng.shuffle(chats)
    budget, chosen = args.chat_share * plain_tokens, []
    for c in chats:
        if budget <= 0:
            break
        chosen.append(c)
        budget -= len(c)
    stream = PackedStream(plain + chosen, args.ctx, args.batch, args.seed)
    val_windows = eval_windows(encode_all(tokenizer, [d["text"] for d in val_docs]), args.ctx)
    log(f"data: {plain_tokens} plain + {sum(map(len, chosen))} chat tokens ({len(chosen)} chats), "
        f"{len(val_windows)} val windows")

    model = Qwen2MoeForCausalLM(build_config(args, attention_dropout=0.1)).to(device)
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e6:.2f}M params, {params * 2 / 1e6:.1f} MB in bf16")
    curve, summary = train(model, args, stream, val_windows, device)

    model.config.output_router_logits = False
    model.config.attention_dropout = 0.0
    probe_ids = val_windows[:4].to(device)
    try:
        export, model = export_checkpoint(model, args.out, {
            "architectures": ["Qwen2MoeForCausalLM"], "rope_theta": 10000.0, "head_dim": args.hidden // args.heads,
            "torch_dtype": "bfloat16", "dtype": "bfloat16", "output_router_logits": False, "attention_dropout": 0.0,
            "use_cache": True}, probe_ids, log)
    except Exception as error:  # noqa: BLE001 - never lose a trained model to an export bug
        log(f"export failed: {error!r}; saving with plain save_pretrained")
        model.to(torch.bfloat16).save_pretrained(args.out, safe_serialization=True)
        model.float()
        export = {"format": "save_pretrained-unverified", "error": repr(error)}
    write_generation_config(args.out, [tokenizer.token_to_id(IM_END), tokenizer.token_to_id(ENDOFTEXT)], 0, 0)

    metrics = {"args": vars(args), "params": params, "device": torch.cuda.get_device_name(),
               "torch": torch.__version__, "transformers": transformers.__version__,
               "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "export": export,
               "summary": summary, "curve": curve}
    metrics["val_ppl_best"] = round(math.exp(summary["best_val_loss"]), 2)
    try:
        metrics["test_perplexity"] = perplexity_report(model, tokenizer, test_docs, args.ctx, device)
        log(f"test perplexity: {json.dumps(metrics['test_perplexity']['groups'])} all {metrics['test_perplexity']['all']}")
    except Exception as error:  # noqa: BLE001 - the checkpoint is already saved; keep going
        log(f"perplexity report failed: {error!r}")
    try:
        metrics["samples"] = samples(model, tokenizer, device)
    except Exception as error:  # noqa: BLE001
        log(f"samples failed: {error!r}")
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    log("done")


if __name__ == "__main__":
    main()
