"""Print a short summary of a `harness bench --profile --format json` file (GPU sessions)."""

import json
import sys

for path in sys.argv[1:]:
    try:
        r = json.load(open(path))
    except Exception as exc:  # a failed bench leaves no JSON: say so, do not crash the session
        print(f"{path}: no JSON ({exc})")
        continue
    d, p = r["decode_tok_s"], r["prefill_tok_s"]
    print(
        f"{path}: L={r['model']['config']['n_layer']} decode {d['median']:.1f} tok/s "
        f"[{d['min']:.1f}, {d['max']:.1f}] prefill {p['median']:.1f} tok/s; "
        f"{r['decode_weight_gb_s_median']:.1f} GB/s "
        f"({100 * r.get('decode_share_of_copy_bw', 0):.1f}% of copy "
        f"{r.get('device_copy', {}).get('gb_s_read_plus_write', 0):.0f} GB/s)"
    )
    enc = r.get("decode_encode")
    if enc:
        print(
            f"  encode {enc['encode_s_median'] * 1e3:.2f} ms/step, encode+submit+wait "
            f"{enc['encode_submit_wait_s_median'] * 1e3:.2f} ms, "
            f"{enc['dispatches_per_step']} dispatches; resident "
            f"{r['device_bytes_resident'] / 2**30:.2f} GiB"
        )
    for phase in ("decode", "prefill"):
        prof = r.get(f"profile_{phase}")
        if prof:
            print(f"  {phase} n_tok={prof['n_tok']} GPU {prof['gpu_ms_total']:.3f} ms:")
            for name, f in list(prof["families"].items())[:12]:
                print(f"    {name:34s} {f['count']:4d} {f['gpu_ms']:9.3f} ms {100 * f['share']:5.1f}%")
