"""Built-in demo data: scikit-learn's digits images and a seeded synthetic customer table.

Both are made locally (digits ship with scikit-learn; customers come from Faker with a fixed
seed), so the demo and the tests never touch the network and always see the same bytes.
The customer table carries direct identifiers (name, email, phone, SSN, card, IBAN, IP) for the
privacy controls to find, quasi-identifiers (zip, age, gender) and a learnable label
(``default``) for the model controls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def digits() -> tuple[np.ndarray, np.ndarray]:
    """8x8 digit images as float32 rows in [0, 1], and int64 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    return x, data.target.astype(np.int64)


def write_digits(path: Path) -> Path:
    """Save digits as an .npz with arrays ``x`` and ``y`` (no pickles: allow_pickle stays off)."""
    x, y = digits()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez(fh, x=x, y=y)
    return path


def customers(rows: int = 2000, seed: int = 7) -> Any:
    """A pandas DataFrame of synthetic customers with PII and a loan-default label."""
    import pandas as pd
    from faker import Faker

    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = np.round(rng.lognormal(10.8, 0.45, rows), -2)
    loan = np.round(rng.uniform(1_000, 60_000, rows), -2)
    score = np.clip(rng.normal(680, 70, rows), 300, 850).round().astype(int)
    logit = -2.0 + 2.4 * (loan / income) - 0.018 * (score - 680) - 0.01 * (age - 45)
    default = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({
        "customer_id": [f"C{100000 + i}" for i in range(rows)],
        "name": [fake.name() for _ in range(rows)],
        "email": [fake.email() for _ in range(rows)],
        "phone": [fake.numerify("(###) 555-01##") if i % 3 else fake.phone_number()
                  for i in range(rows)],
        "ssn": [fake.ssn() for _ in range(rows)],
        "credit_card": [fake.credit_card_number() for _ in range(rows)],
        "iban": [fake.iban() for _ in range(rows)],
        "ip_address": [fake.ipv4_public() if i % 4 else fake.ipv6() for i in range(rows)],
        "zip": [fake.zipcode() for _ in range(rows)],
        "city": [fake.city() for _ in range(rows)],
        "age": age,
        "gender": rng.choice(["F", "M", "X"], rows, p=[0.48, 0.48, 0.04]),
        "income": income,
        "loan_amount": loan,
        "credit_score": score,
        "default": default,
    })
    return frame


def write_customers(path: Path, rows: int = 2000, seed: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = customers(rows, seed)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
