"""Write data/customers.csv and data/holdout.csv: a seeded, synthetic credit-default table.

Synthetic on purpose (no real person in it); the same seed always gives the same bytes, so the
digests in the walk-through are reproducible.
"""

from pathlib import Path

import numpy as np
import pandas as pd


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 75, n)
    income = rng.normal(52000, 18000, n).round(2).clip(8000, None)
    debt = rng.uniform(0, 0.9, n).round(3)
    region = rng.choice(["east", "north", "south", "west"], n)
    score = 4e-5 * income - 3.0 * debt + 0.01 * (age - 40) + (region == "north") * 0.4
    score = score + rng.normal(0, 0.4, n)
    return pd.DataFrame({"customer_id": np.arange(1000, 1000 + n), "age": age,
                         "income": income, "debt_ratio": debt, "region": region,
                         "default": (score < np.median(score) - 0.3).astype(int)})


if __name__ == "__main__":
    Path("data").mkdir(exist_ok=True)
    table(480, 1).to_csv("data/customers.csv", index=False)
    table(480, 2).to_csv("data/holdout.csv", index=False)
    print("wrote data/customers.csv (480 rows) and data/holdout.csv (480 rows)")
