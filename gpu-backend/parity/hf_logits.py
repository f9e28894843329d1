"""Reference logits from Hugging Face transformers, for the engine's parity check (issue 2).

Runs on a GPU host with torch + transformers (no Node there). Loads a Qwen2MoE checkpoint
directory exactly as published, computes fp32 eager logits for fixed token sequences, and writes
the last-position logits per sequence to a JSON file that `npm run parity:hf -- <json>` compares
against the engine's `top_k` graph.

usage: python hf_logits.py <checkpoint-dir> <out.json> [--device cuda|cpu]
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM

# Fixed sequences: short, one long enough to exercise RoPE, and ids near the vocab's end.
SEQUENCES = [
    [9707, 11, 1879, 0],
    [151644, 872, 198, 9707, 1879, 151645, 198, 151644, 77091, 198],
    list(range(100, 164)),
    [151643, 5, 42, 4242, 99999, 150000],
]


def main() -> None:
    ckpt, out = sys.argv[1], sys.argv[2]
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="eager").to(device).eval()
    vocab = model.config.vocab_size
    results = []
    with torch.no_grad():
        for seq in SEQUENCES:
            ids = [i % vocab for i in seq]  # small-vocab models (the trained default) get the same lengths
            x = torch.tensor([ids], device=device)
            logits = model(input_ids=x).logits[0, -1].float().cpu()
            results.append({"input_ids": ids, "last_logits": logits.tolist()})
    meta = {"transformers": __import__("transformers").__version__, "torch": torch.__version__, "device": device,
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None}
    with open(out, "w") as f:
        json.dump({"meta": meta, "results": results}, f)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
