"""Writes a tiny random Llama in Hugging Face format with a small byte-level BPE tokenizer, offline,
for the opt-in vLLM tests (run with the vLLM venv's python: it needs torch and transformers)."""
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/vllm-try/model"
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
text = ["hello world", "the quick brown fox jumps over the lazy dog",
        "tunelens drives models served by vllm", "hello there, how are you today?"] * 20
tok.train_from_iterator(text, trainer)
fast = PreTrainedTokenizerFast(
    tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
)
fast.chat_template = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
fast.save_pretrained(out)
V = len(fast)
torch.manual_seed(0)
cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, vocab_size=V, max_position_embeddings=512,
                  bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                  tie_word_embeddings=False)
m = LlamaForCausalLM(cfg).to(torch.float32)
m.save_pretrained(out, safe_serialization=True)
print("vocab", V, "saved to", out)
