"""Record measured Kodak figures of the shipped rate points in ``neuralcodec/weights/index.json``.

    .venv/bin/python scripts/update_index.py results/hyperprior-kodak.json

Reads a ``codec eval`` result of a learned family and stores, per rate point, the mean bpp (files, header
included), RGB PSNR and MS-SSIM that ``codec list`` prints, with the weights hash they were measured with.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from neuralcodec.codecs.registry import WEIGHTS_DIR, load_codec


def main() -> None:
    blob = json.loads(Path(sys.argv[1]).read_text())
    family, r = blob["name"], blob["results"]
    index_path = WEIGHTS_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    for i, q in enumerate(r["quality"]):
        index[f"{family}-q{q}"] = {
            "bpp": round(r["bpp"][i], 5), "psnr": round(r["psnr-rgb"][i], 4),
            "ms_ssim": None if r["ms-ssim-rgb"][i] is None else round(r["ms-ssim-rgb"][i], 5),
            "weights_hash": load_codec(family, q).weights_hash.hex(), "dataset": "Kodak (24 images)",
        }
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    print(f"wrote {index_path}")


if __name__ == "__main__":
    main()
