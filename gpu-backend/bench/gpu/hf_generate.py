"""The Hugging Face transformers baseline for issue 6's GPU benchmark, on the same checkpoint and card.

Runs on the GPU host (torch + transformers, no Node). Loads the Qwen2MoE checkpoint directory as
published, in bf16 with eager attention, and measures with `generate` (greedy, min_new_tokens =
max_new_tokens so random weights cannot stop early on EOS):
  - decode tokens/s at each batch size: (new tokens x batch) / (time of a generate of N new tokens
    minus the time of a generate of 1 new token, i.e. without the prefill)
  - prefill: time of one forward over P prompt tokens (batch 1), synchronized
  - peak GPU memory (torch.cuda.max_memory_allocated) and the weights' bytes
Medians over --runs. Writes JSON (and prints it).

usage: python hf_generate.py <checkpoint-dir> <out.json> [--batches 1,8,32] [--new-tokens 64]
                             [--prefill 512,2048] [--runs 3] [--max-seconds 240]
"""
import json
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def timed(fn) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ckpt, out = sys.argv[1], sys.argv[2]
    batches = [int(b) for b in arg("--batches", "1,8,32").split(",")]
    new_tokens = int(arg("--new-tokens", "64"))
    prefills = [int(p) for p in arg("--prefill", "512,2048").split(",")]
    runs = int(arg("--runs", "3"))
    budget = float(arg("--max-seconds", "240"))
    started = time.perf_counter()

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.bfloat16, attn_implementation="eager").to("cuda").eval()
    load_s = time.perf_counter() - t0
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    vocab = model.config.vocab_size
    result = {
        "meta": {
            "transformers": __import__("transformers").__version__, "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0), "dtype": "bfloat16", "attn": "eager",
            "load_s": load_s, "weight_bytes": weight_bytes, "new_tokens": new_tokens, "runs": runs,
        },
        "decode": [], "prefill": [],
    }

    def write() -> None:
        result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        with open(out, "w") as f:
            json.dump(result, f, indent=1)

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for b in batches:
            if time.perf_counter() - started > budget:
                result["decode"].append({"batch": b, "skipped": "time budget"})
                continue
            ids = torch.randint(1000, vocab - 1000, (b, 16), generator=g).to("cuda")
            mask = torch.ones_like(ids)
            gen = lambda n: model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
            gen(4)  # warm-up
            full = [timed(lambda: gen(new_tokens)) for _ in range(runs)]
            first = [timed(lambda: gen(1)) for _ in range(runs)]
            decode_s = statistics.median(full) - statistics.median(first)
            tok_s = b * (new_tokens - 1) / decode_s
            result["decode"].append({"batch": b, "tok_s": tok_s, "per_stream_tok_s": tok_s / b, "generate_s": statistics.median(full), "first_token_s": statistics.median(first)})
            print(json.dumps(result["decode"][-1]), flush=True)
            write()
        for p in prefills:
            ids = torch.randint(1000, vocab - 1000, (1, p), generator=g).to("cuda")
            model(input_ids=ids)  # warm-up
            times = [timed(lambda: model(input_ids=ids)) for _ in range(runs)]
            ms = statistics.median(times) * 1000
            result["prefill"].append({"tokens": p, "ms": ms, "tok_s": p / (ms / 1000)})
            print(json.dumps(result["prefill"][-1]), flush=True)
            write()
    write()
    print(json.dumps({"peak_gpu_bytes": result["peak_gpu_bytes"], "load_s": load_s}))


if __name__ == "__main__":
    main()
