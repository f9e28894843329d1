"""Brown JSONL splits -> byte-level BPE tokenizer, packed training stream, ChatML samples, eval windows.

The JSONL files come from prepare-brown.ts (one document per line: id, genre, group, text, paragraphs).
"""
import json
import random

import torch
from jinja2 import Template
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]  # ids 0, 1, 2

# Qwen2's pre-tokenizer split, so the tokenizer.json has the same structure as Qwen's (which the JS
# tokenizer on the serving side already loads): NFC, regex split, byte-level, no prefix space.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen1.5/Qwen2 ChatML template (Qwen1.5-MoE-A2.7B-Chat's own). Qwen3's template would make every trained
# assistant turn start with an empty <think></think> block, which this model has no use for.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

USER_PROMPTS = [
    "{s}",
    "Continue this text: {s}",
    "Write a passage that begins with this sentence: {s}",
    "Tell me more. {s}",
    "Go on from here: {s}",
]


def load_split(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def train_tokenizer(texts, vocab_size):
    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == expected_id, f"{token} should have id {expected_id}"
    return tokenizer


def tokenizer_config(model_max_length):
    added = {
        str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": True}
        for i, t in enumerate(SPECIAL_TOKENS)
    }
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": [IM_START, IM_END],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": IM_END,
        "errors": "replace",
        "model_max_length": model_max_length,
        "pad_token": ENDOFTEXT,
        "split_special_tokens": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }


def render_chat(messages, add_generation_prompt=False):
    return Template(CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=add_generation_prompt)


def chat_samples(docs, rng, max_words=80):
    """A user turn with a paragraph's first sentence, an assistant turn that continues the paragraph."""
    samples = []
    for doc in docs:
        for sentences in doc["paragraphs"]:
            if len(sentences) < 2 or len(sentences[0].split()) < 4:
                continue
            reply, words = [], 0
            for sentence in sentences[1:]:
                if reply and words + len(sentence.split()) > max_words:
                    break
                reply.append(sentence)
                words += len(sentence.split())
            user = rng.choice(USER_PROMPTS).format(s=sentences[0])
            samples.append(render_chat([{"role": "user", "content": user},
                                        {"role": "assistant", "content": " ".join(reply)}]))
    return samples


def encode_all(tokenizer, texts):
    eot = tokenizer.token_to_id(ENDOFTEXT)
    return [enc.ids + [eot] for enc in tokenizer.encode_batch(texts)]


class PackedStream:
    """Each epoch: shuffle the samples, concatenate, cut at a random offset into ctx-long rows, shuffle rows."""

    def __init__(self, sequences, ctx, batch, seed):
        self.sequences = [torch.tensor(s, dtype=torch.long) for s in sequences]
        self.ctx, self.batch = ctx, batch
        self.rng = random.Random(seed)
        self.epoch = 0
        self.num_tokens = sum(len(s) for s in sequences)

    def batches(self, device):
        while True:
            order = list(range(len(self.sequences)))
            self.rng.shuffle(order)
            flat = torch.cat([self.sequences[i] for i in order])
            flat = flat[self.rng.randrange(self.ctx):]
            rows = flat[: (len(flat) // self.ctx) * self.ctx].view(-1, self.ctx)
            shuffle = torch.Generator().manual_seed(self.rng.randrange(2**31))
            rows = rows[torch.randperm(len(rows), generator=shuffle)]
            for start in range(0, len(rows) - self.batch + 1, self.batch):
                yield rows[start:start + self.batch].to(device, non_blocking=True)
            self.epoch += 1


def eval_windows(sequences, ctx):
    """Documents joined (each ends in <|endoftext|>) and cut into non-overlapping ctx-long windows."""
    flat = torch.tensor([t for s in sequences for t in s], dtype=torch.long)
    n = len(flat) // ctx
    return flat[: n * ctx].view(n, ctx)
