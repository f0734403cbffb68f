#!/usr/bin/env python3
"""Figures like the paper's Figures 1-3 from `ob1q quantize --diagnostics` files.

  scripts/plot_diagnostics.py OUT.png RUN.diag.json [RUN2.diag.json ...]

Panels: (1) block output error (mse) per decoder block, activation-conditioned (quantized block vs
the FP block on the same quantized inputs) and true output (vs the FP model's stream), one line
pair per run; (2) mean token cosine of the same; (3) token-similarity (TS) matrix error; (4) for OA
runs, the final FC's block loss under the ARB-RC initialisation and after OA, per decoder block.
Requirements: Python >= 3.8 and matplotlib >= 3.3 (Debian: python3-matplotlib; the version that
drew results/sweep_*/fig_*.png was not recorded). A missing package ends the script with one line
naming it and exit status 2."""
import json, os, re, sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)

if len(sys.argv) < 3:
    sys.exit(__doc__)
out, files = sys.argv[1], sys.argv[2:]
fig, ax = plt.subplots(2, 2, figsize=(12, 8))
for f in files:
    r = json.load(open(f))
    tag = os.path.basename(f).replace(".diag.json", "") or r.get("method", "?")
    blocks = [b for b in r["blocks"] if "diagnostics" in b]
    if not blocks:
        sys.exit(f"{f}: no diagnostics (run quantize with --diagnostics)")
    x = [b["block"] for b in blocks]
    d = [b["diagnostics"] for b in blocks]
    for key, style in (("activation_conditioned", "--"), ("output", "-")):
        label = f"{tag} ({'act.-cond.' if key[0] == 'a' else 'output'})"
        ax[0][0].plot(x, [v[key]["mse"] for v in d], style, marker="o", ms=3, label=label)
        ax[0][1].plot(x, [v[key]["cos"] for v in d], style, marker="o", ms=3, label=label)
        ax[1][0].plot(x, [v[key]["ts_mse"] for v in d], style, marker="o", ms=3, label=label)
    oa = [l for l in r["layers"] if l.get("oa")]
    if oa:
        xb = [int(re.search(r"layers\.(\d+)\.", l["layer"]).group(1)) for l in oa]
        ax[1][1].plot(xb, [l["block_loss_arbrc"] for l in oa], "--", marker="s", ms=3, label=f"{tag}: ARB-RC init")
        ax[1][1].plot(xb, [l["block_loss_oa"] for l in oa], "-", marker="s", ms=3, label=f"{tag}: after OA")
titles = ["block output error (mse)", "block output cosine", "token-similarity error (mse)",
          "final FC block loss (minus its constant)"]
for a, t in zip(ax.flat, titles):
    a.set_title(t)
    a.set_xlabel("decoder block")
    if a.lines:
        a.legend(fontsize=7)
ax[0][0].set_yscale("log")
ax[1][0].set_yscale("symlog", linthresh=1e-6)
fig.tight_layout()
fig.savefig(out, dpi=120)
print("wrote", out)
