#!/usr/bin/env python3
"""Write a LLaMA-2-7B-shaped checkpoint with random fp16 weights (GPU machine; transformers),
cut to --layers decoder blocks, with the LLaMA-2 tokenizer copied next to it. Used by
scripts/bench_quant_scaling.sh to time quantization at real layer sizes.

Requirements: a CUDA GPU; Python >= 3.8, torch, transformers (known to work: torch 2.11.0 and
transformers 5.17.0). A missing package ends the script with one line naming it and exit status 2."""
import argparse, os, shutil, sys

try:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--tokenizer", required=True, help="directory with the LLaMA-2 tokenizer files")
a = p.parse_args()
cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=a.layers,
                  num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                  rms_norm_eps=1e-5, tie_word_embeddings=False)
torch.manual_seed(0)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).half()
model.save_pretrained(a.out, safe_serialization=True)
for f in ("tokenizer.model", "tokenizer_config.json"):
    shutil.copy(os.path.join(a.tokenizer, f), a.out)
print("wrote", a.out)
