"""Write scikit-learn's digits as a noisy-label PNG dataset: ``data/samples/images/digits_noisy``.

Reproducible (seed 0): a stratified 30 % test split; 10 trusted images per class drawn from
the training part; then 20 % asymmetric label noise on the remaining training rows, each
digit flipping to the one it is most often confused with (0→6, 1→7, 2→7, 3→8, 4→9, 5→6,
6→5, 7→1, 8→3, 9→4). Trusted and test rows keep their true labels. The true labels are
written to ``noise_truth.csv`` so the demo can show how many flips cleaning finds; Sieve
never reads that file.

Run: ``.venv/bin/python data/samples/make_digits_sample.py``
"""

from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
NOISE = 0.20
TRUSTED_PER_CLASS = 10
CONFUSION = {0: 6, 1: 7, 2: 7, 3: 8, 4: 9, 5: 6, 6: 5, 7: 1, 8: 3, 9: 4}
OUT = Path(__file__).resolve().parent / "images" / "digits_noisy"


def main() -> None:
    digits = load_digits()
    x = np.clip(digits.images * 16, 0, 255).astype(np.uint8)  # 0..16 → 0..255 (8x8 grey)
    y = digits.target
    rng = np.random.default_rng(SEED)
    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=0.3, stratify=y, random_state=SEED)
    trusted = set()
    for c in range(10):
        members = train_idx[y[train_idx] == c]
        trusted.update(rng.choice(members, TRUSTED_PER_CLASS, replace=False).tolist())
    given = y.copy()
    pool = np.array([i for i in train_idx if i not in trusted])
    flip = pool[rng.random(len(pool)) < NOISE]
    given[flip] = [CONFUSION[int(c)] for c in y[flip]]
    OUT.mkdir(parents=True, exist_ok=True)
    rows, truth = [], []
    test_set = set(test_idx.tolist())
    for i in idx:
        name = f"img/{i:04d}.png"
        (OUT / "img").mkdir(exist_ok=True)
        Image.fromarray(x[i], mode="L").save(OUT / name, optimize=True)
        rows.append({"image": name, "label": str(given[i]), "trusted": i in trusted,
                     "split": "test" if i in test_set else "train"})
        truth.append({"image": name, "true_label": str(y[i])})
    pl.DataFrame(rows).write_csv(OUT / "labels.csv")
    pl.DataFrame(truth).write_csv(OUT / "noise_truth.csv")
    (OUT / "classes.txt").write_text("\n".join(str(c) for c in range(10)) + "\n")
    actual = (given[pool] != y[pool]).mean()
    print(f"wrote {len(rows)} images to {OUT}; injected noise on the noisy pool: {actual:.3f} "
          f"({int((given != y).sum())} flips of {len(pool)}); trusted {len(trusted)}; test {len(test_idx)}")


if __name__ == "__main__":
    main()
