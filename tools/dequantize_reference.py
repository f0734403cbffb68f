#!/usr/bin/env python3
"""Dequantize an ob1q packed checkpoint (docs/format.md, version 1) with safetensors + torch only.

An independent reading of the format, used to check ob1q's own reader:
  python3 tools/dequantize_reference.py PACKED_DIR --compare HF_DIR   # bit-exact vs `ob1q export`
  python3 tools/dequantize_reference.py PACKED_DIR --out weights.safetensors

Requirements: Python >= 3.8, torch and safetensors (known to work: torch 2.11.0 with the
safetensors release pip installed next to it; its version was not recorded). CPU is enough.
A missing package ends the script with one line naming it and exit status 2.
"""
import argparse, json, os, sys
try:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)

def unbits(b, n):  # U8 [..., ceil(n/8)] LSB-first -> bool [..., n]
    bits = (b.long().unsqueeze(-1) >> torch.arange(8)) & 1
    return bits.flatten(-2)[..., :n].bool()

def signs(bits, n):
    return unbits(bits, n).to(torch.float32) * 2 - 1

def dequantize(t, spec, m, d):
    s = {0: signs(t["sign"], d)}
    zero = t.get("sign_zero", torch.zeros(0, 3, dtype=torch.int32)).long()
    if spec["layout"] == "pb-llm":
        high = unbits(t["high"], d)
        code = torch.zeros(m, d); code[high] = t["high_codes"].float()
        s0 = s[0]; s0[zero[:, 1], zero[:, 2]] = 0
        f = lambda k: t[k].float().unsqueeze(1)
        return torch.where(high, f("scale") * (code - f("zero")), f("alpha") * s0 + f("mu"))
    sal = unbits(t["salient"], d); hi = unbits(t["hi"], d)
    s[1] = torch.zeros(m, d); s[1][:, sal] = signs(t["sign2"], int(sal.sum()))
    if "zero_cols" in t: zc = unbits(t["zero_cols"], d); s[0][:, zc] = 0; s[1][:, zc] = 0
    for p, r, c in zero.tolist(): s[p][r, c] = 0
    bs, form, groups = spec["blocksize"], spec["formula"], spec["groups"]
    row, W = t["row_scale"].float(), torch.zeros(m, d)
    col = t["col_scale"].float() if form == "rc" else None
    mean = t["mean"].float() if form != "rc" else None
    for b in range(0, (d + bs - 1) // bs):
        J = slice(b * bs, min(d, (b + 1) * bs)); w = J.stop - J.start
        taken, slot = torch.zeros(m, w, dtype=torch.bool), 0
        for gi, g in enumerate(groups):
            mask = (sal[J] if g["salient"] else ~sal[J]).expand(m, w)
            if g["hi"] is not None: mask = mask & (hi[:, J] if g["hi"] else ~hi[:, J])
            mask = mask & ~taken; taken |= mask
            part = None
            for p in range(g["planes"]):
                a = row[b, slot + p].unsqueeze(1)
                if form == "rc": term = (a * col[b, slot + p, :w].unsqueeze(0)) * s[p][:, J]
                elif form == "arb": term = a * s[p][:, J]
                else: term = a * s[p][:, J] + mean[b, slot + p].unsqueeze(1)
                part = term if part is None else part + term
            if form == "arb": part = part + mean[b, gi].unsqueeze(1)
            W[:, J] = torch.where(mask, part, W[:, J])
            slot += g["planes"]
    return W

def load_packed(dir):
    q = json.load(open(os.path.join(dir, "config.json")))["quantization_config"]
    assert q["quant_method"] == "ob1q" and q["format_version"] == 1, "not an ob1q v1 packed checkpoint"
    wm = json.load(open(os.path.join(dir, "model.safetensors.index.json")))["weight_map"]
    get = lambda k: safe_open(os.path.join(dir, wm[k]), "pt").get_tensor(k)
    dt = getattr(torch, q["dequant_dtype"])
    out = {}
    for name, mod in q["modules"].items():
        t = {k[len(name) + 1:]: get(k) for k in wm if k.startswith(name + ".") and "." not in k[len(name) + 1:] and k != name + ".bias"}
        m, d = mod["shape"]
        out[name + ".weight"] = dequantize(t, q["layouts"][mod["layout"]], m, d).to(dt)
    return out

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("packed"); ap.add_argument("--out"); ap.add_argument("--compare")
    a = ap.parse_args()
    W = load_packed(a.packed)
    if a.out: save_file(W, a.out)
    if a.compare:
        wm = json.load(open(os.path.join(a.compare, "model.safetensors.index.json")))["weight_map"] \
            if os.path.exists(os.path.join(a.compare, "model.safetensors.index.json")) else None
        bad = 0
        for k, w in W.items():
            f = os.path.join(a.compare, wm[k] if wm else "model.safetensors")
            ref = safe_open(f, "pt").get_tensor(k)
            same = ref.dtype == w.dtype and torch.equal(ref.view(torch.int16) if ref.element_size() == 2 else ref,
                                                        w.view(torch.int16) if w.element_size() == 2 else w)
            bad += not same
            if not same: print(f"DIFFERS {k}: max |diff| {(ref.float() - w.float()).abs().max().item():.3g}")
        print(json.dumps({"modules": len(W), "bit_identical": len(W) - bad, "differ": bad}))
        sys.exit(1 if bad else 0)
