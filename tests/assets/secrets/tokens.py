"""Seeded, realistic-looking (never valid) credentials for tests and bench/secrets.py.

They are generated at run time instead of committed, so that no credential-shaped string sits
in the repository for other scanners to trip on.
"""

from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return (f"{enc({'alg': 'HS256', 'typ': 'JWT'})}."
            f"{enc({'sub': _pick(rng, ALNUM, 10), 'iat': rng.randint(10**9, 2 * 10**9)})}."
            f"{_pick(rng, URLSAFE, 43)}")


def _private_key(rng: random.Random) -> str:
    body = "\n".join(_pick(rng, B64, 64) for _ in range(4))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def tokens(seed: int = 0) -> dict[str, str]:
    """rule id -> a fresh credential of that format."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a credential
    return {
        "aws-access-key-id": "AKIA" + _pick(rng, string.ascii_uppercase + "234567", 16),
        "github-token": "ghp_" + _pick(rng, ALNUM, 36),
        "github-fine-grained-token": "github_pat_" + _pick(rng, ALNUM + "_", 82),
        "gitlab-token": "glpat-" + _pick(rng, URLSAFE, 20),
        "slack-token": f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**12, 10**13)}-"
                       + _pick(rng, ALNUM, 24),
        "stripe-key": "sk_live_" + _pick(rng, ALNUM, 24),
        "google-api-key": "AIza" + _pick(rng, URLSAFE, 35),
        "openai-api-key": "sk-proj-" + _pick(rng, URLSAFE, 100),
        "anthropic-api-key": "sk-ant-api03-" + _pick(rng, URLSAFE, 93) + "AA",
        "huggingface-token": "hf_" + _pick(rng, string.ascii_letters, 34),
        "wandb-api-key": _pick(rng, "0123456789abcdef", 40),
        "jwt": _jwt(rng),
        "private-key": _private_key(rng),
        "url-password": _pick(rng, ALNUM, 16),
        "credential-assignment": _pick(rng, ALNUM, 14) + "7q",
        "generic-secret": _pick(rng, ALNUM, 32),
        "aws-secret-access-key": _pick(rng, B64, 40),
    }


def line_for(rule: str, value: str) -> tuple[str, str]:
    """(file name, file content) planting ``value`` the way it appears in real projects."""
    layouts = {
        "aws-access-key-id": ("deploy/aws.env", f"AWS_ACCESS_KEY_ID={value}\n"),
        "aws-secret-access-key": ("deploy/aws.cfg",
                                  f"[default]\naws_secret_access_key = {value}\n"),
        "wandb-api-key": ("train/settings.py", f'WANDB_API_KEY = "{value}"\n'),
        "url-password": ("app/db.py",
                         f'DATABASE_URL = "postgresql://svc:{value}@db.internal:5432/app"\n'),
        "credential-assignment": ("app/.env", f"DB_PASSWORD={value}\n"),
        "generic-secret": ("app/client.py", f'client_secret = "{value}"\n'),
        "private-key": ("keys/id_rsa", value + "\n"),
        "jwt": ("tests/fixtures.py", f'AUTH = "Bearer {value}"\n'),
    }
    return layouts.get(rule, (f"src/{rule.replace('-', '_')}.py",
                              f'API_TOKEN = "{value}"  # {rule}\n'))
