"""Seeded, realistic-looking (never valid) credentials for tests and bench/secrets.py.

They are generated at run time instead of committed, so that no credential-shaped string sits
in the repository for other scanners to trip on. Each follows its provider's documented format
(prefix, length, charset, checksum where there is one), with random characters: none was ever
issued by a provider.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
import zlib

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits
LOWER = string.ascii_lowercase + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + _pick(rng, string.digits, n - 1)


def crc_token(rng: random.Random, prefix: str) -> str:
    """GitHub / npm format: 30 random base62 characters and their CRC32 in 6 base62 digits."""
    body = _pick(rng, ALNUM, 30)
    crc, out = zlib.crc32(body.encode()), ""
    while crc:
        crc, digit = divmod(crc, 62)
        out = B62[digit] + out
    return f"{prefix}_{body}{out.rjust(6, '0')}"


def _b64json(obj: object, urlsafe: bool = False) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    enc = base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)
    return enc.decode().rstrip("=")


def _jwt(rng: random.Random) -> str:
    claims = {"sub": _pick(rng, ALNUM, 10), "iat": rng.randint(10**9, 2 * 10**9)}
    return (f"{_b64json({'alg': 'HS256', 'typ': 'JWT'}, True)}.{_b64json(claims, True)}"
            f".{_pick(rng, URLSAFE, 43)}")


def _pem(rng: random.Random) -> str:
    body = "\n".join(_pick(rng, B64, 64) for _ in range(4))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def _bech32_checksum(hrp: str, data: list[int]) -> list[int]:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data + [0] * 6
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(gen):
            chk ^= g if (top >> i) & 1 else 0
    chk ^= 1
    return [(chk >> 5 * (5 - i)) & 31 for i in range(6)]


def _age(rng: random.Random) -> str:
    hrp = "age-secret-key-"
    data = [rng.randrange(32) for _ in range(52)]
    chars = "".join(BECH32[d] for d in data + _bech32_checksum(hrp, data))
    return (hrp + "1" + chars).upper()


def _alnum_b64(rng: random.Random) -> str:
    """Base64 JSON whose encoding happens to use letters and digits only (Grafana's legacy)."""
    while True:
        key = _b64json({"k": _pick(rng, ALNUM, 32), "n": _pick(rng, LOWER, 8),
                        "id": rng.randint(1, 999)})
        if key.isalnum():
            return key


def _discord(rng: random.Random) -> str:
    user = base64.urlsafe_b64encode(_digits(rng, 18).encode()).decode().rstrip("=")
    return f"{user}.{_pick(rng, URLSAFE, 6)}.{_pick(rng, URLSAFE, 38)}"


def _kube_key(rng: random.Random) -> str:
    return base64.b64encode(_pem(rng).encode()).decode()


def _ops(rng: random.Random) -> str:
    return "ops_" + _b64json({"signInAddress": "my.1password.com", "userAuth": {
        "method": "SRPg-4096", "alg": "PBES2g-HS256", "iterations": 650000,
        "salt": _pick(rng, URLSAFE, 22)},
        "email": _pick(rng, LOWER, 12) + "@1passwordserviceaccounts.com",
        "srpX": _pick(rng, HEX, 64), "muk": {"alg": "A256GCM", "k": _pick(rng, URLSAFE, 43)}})


def _tokens_ai(rng: random.Random) -> dict[str, str]:
    return {
        "anthropic-api-key": "sk-ant-api03-" + _pick(rng, URLSAFE, 93) + "AA",
        "openai-api-key": "sk-proj-" + _pick(rng, URLSAFE, 100),
        "openrouter-api-key": "sk-or-v1-" + _pick(rng, HEX, 64),
        "huggingface-token": "hf_" + _pick(rng, string.ascii_letters, 34),
        "wandb-api-key": _pick(rng, HEX, 40),
        "wandb-netrc": _pick(rng, HEX, 40),
        "cohere-api-key": _pick(rng, ALNUM, 40),
        "mistral-api-key": _pick(rng, ALNUM, 32),
        "replicate-api-token": "r8_" + _pick(rng, ALNUM, 37),
        "groq-api-key": "gsk_" + _pick(rng, ALNUM, 52),
        "perplexity-api-key": "pplx-" + _pick(rng, ALNUM, 48),
        "xai-api-key": "xai-" + _pick(rng, ALNUM, 80),
        "langsmith-api-key": f"lsv2_pt_{_pick(rng, HEX, 32)}_{_pick(rng, HEX, 10)}",
        "nvidia-api-key": "nvapi-" + _pick(rng, URLSAFE, 64),
        "pinecone-api-key": f"pcsk_{_pick(rng, ALNUM, 5)}_{_pick(rng, ALNUM, 65)}",
        "pinecone-legacy-api-key": _uuid(rng),
        "together-api-key": _pick(rng, HEX, 64),
        "elevenlabs-api-key": "sk_" + _pick(rng, HEX, 48),
    }


def _tokens_code(rng: random.Random) -> dict[str, str]:
    return {
        "github-token": crc_token(rng, "ghp"),
        "github-fine-grained-token": f"github_pat_{_pick(rng, ALNUM, 22)}_{_pick(rng, ALNUM, 59)}",
        "gitlab-token": "glpat-" + _pick(rng, URLSAFE, 20),
        "gitlab-runner-registration-token": "GR1348941" + _pick(rng, URLSAFE, 20),
        "gitlab-session-cookie": _pick(rng, LOWER, 32),
        "atlassian-api-token": "ATATT3" + _pick(rng, URLSAFE, 186),
        "atlassian-legacy-token": _pick(rng, ALNUM, 24),
        "bitbucket-app-password": "ATBB" + _pick(rng, ALNUM, 32),
        "npm-token": crc_token(rng, "npm"),
        "pypi-token": "pypi-AgEIcHlwaS5vcmc" + _pick(rng, URLSAFE, 70),
        "rubygems-token": "rubygems_" + _pick(rng, HEX, 48),
        "dockerhub-token": "dckr_pat_" + _pick(rng, URLSAFE, 27),
        "jfrog-token": "AKCp" + _pick(rng, ALNUM, 69),
        "sonarqube-token": "squ_" + _pick(rng, HEX, 40),
        "sonarqube-legacy-token": _pick(rng, HEX, 40),
        "sourcegraph-token": f"sgp_{_pick(rng, HEX, 16)}_{_pick(rng, HEX, 40)}",
        "snyk-token": _uuid(rng),
        "sentry-token": "sntryu_" + _pick(rng, HEX, 64),
        "sentry-legacy-token": _pick(rng, HEX, 64),
        "doppler-token": "dp.pt." + _pick(rng, ALNUM, 43),
        "onepassword-service-account-token": _ops(rng),
        "onepassword-secret-key": "A3-" + "-".join(_pick(rng, UPPER, n) for n in (6, 11, 5, 5, 5)),
        "terraform-cloud-token": f"{_pick(rng, LOWER, 14)}.atlasv1.{_pick(rng, LOWER, 67)}",
        "vault-token": "hvs." + _pick(rng, URLSAFE, 95),
        "vault-legacy-token": "s." + _pick(rng, ALNUM, 24),
        "pulumi-token": "pul-" + _pick(rng, HEX, 40),
        "postman-api-key": f"PMAK-{_pick(rng, HEX, 24)}-{_pick(rng, HEX, 34)}",
        "linear-api-key": "lin_api_" + _pick(rng, ALNUM, 40),
        "databricks-token": "dapi" + _pick(rng, HEX, 32),
        "azure-devops-pat": _pick(rng, ALNUM, 76) + "AZDO" + _pick(rng, ALNUM, 4),
        "azure-devops-legacy-pat": _pick(rng, string.ascii_lowercase + "234567", 52),
        "prefect-api-key": "pnu_" + _pick(rng, ALNUM, 36),
        "clojars-token": "CLOJARS_" + _pick(rng, LOWER, 60),
        "harness-token": f"pat.{_pick(rng, URLSAFE, 22)}.{_pick(rng, HEX, 24)}."
                         f"{_pick(rng, ALNUM, 20)}",
        "octopus-deploy-api-key": "API-" + _pick(rng, UPPER, 26),
        "buildkite-token": "bkua_" + _pick(rng, HEX, 40),
        "circleci-token": f"CCIPAT_{_pick(rng, ALNUM, 22)}_{_pick(rng, HEX, 40)}",
        "netlify-token": "nfp_" + _pick(rng, ALNUM, 36),
        "netlify-legacy-token": _pick(rng, URLSAFE, 43),
        "deno-deploy-token": "ddp_" + _pick(rng, ALNUM, 36),
        "neon-api-key": "napi_" + _pick(rng, LOWER, 64),
        "openshift-token": "sha256~" + _pick(rng, URLSAFE, 43),
        "launchdarkly-key": "api-" + _uuid(rng),
        "codecov-token": _uuid(rng),
        "bitbucket-client-secret": _pick(rng, URLSAFE, 64),
        "travis-token": _pick(rng, ALNUM, 22),
    }


def _tokens_cloud(rng: random.Random) -> dict[str, str]:
    return {
        "aws-access-key-id": "AKIA" + _pick(rng, string.ascii_uppercase + "234567", 16),
        "aws-secret-access-key": _pick(rng, B64, 40),
        "aws-session-token": _pick(rng, B64, 300),
        "azure-ad-client-secret": (_pick(rng, ALNUM, 3) + str(rng.randint(0, 9)) + "Q~"
                                   + _pick(rng, ALNUM + "_~.-", 34)),
        "azure-storage-key": _pick(rng, B64, 86) + "==",
        "azure-shared-access-key": _pick(rng, B64, 43) + "=",
        "azure-sas-token": _pick(rng, ALNUM, 43) + "%3D",
        "azure-openai-key": _pick(rng, HEX, 32),
        "google-api-key": "AIza" + _pick(rng, URLSAFE, 35),
        "google-oauth-secret": "GOCSPX-" + _pick(rng, URLSAFE, 28),
        "google-oauth-token": "ya29." + _pick(rng, URLSAFE, 150),
        "alibaba-access-key-id": "LTAI" + _pick(rng, ALNUM, 20),
        "alibaba-access-key-secret": _pick(rng, ALNUM, 30),
        "digitalocean-token": "dop_v1_" + _pick(rng, HEX, 64),
        "heroku-api-key": "HRKU-AA" + _pick(rng, URLSAFE, 58),
        "heroku-legacy-api-key": _uuid(rng),
        "flyio-token": "fo1_" + _pick(rng, URLSAFE, 43),
        "cloudflare-origin-ca-key": f"v1.0-{_pick(rng, HEX, 24)}-{_pick(rng, HEX, 146)}",
        "cloudflare-api-token": _pick(rng, URLSAFE, 40),
        "datadog-api-key": _pick(rng, HEX, 32),
        "dynatrace-token": f"dt0c01.{_pick(rng, UPPER, 24)}.{_pick(rng, UPPER, 64)}",
        "newrelic-key": "NRAK-" + _pick(rng, UPPER, 27),
        "grafana-token": f"glsa_{_pick(rng, ALNUM, 32)}_{_pick(rng, HEX, 8)}",
        "grafana-legacy-api-key": _alnum_b64(rng),
        "sumologic-key": _pick(rng, ALNUM, 64),
        "supabase-token": "sbp_" + _pick(rng, HEX, 40),
        "planetscale-token": "pscale_tkn_" + _pick(rng, URLSAFE, 43),
        "okta-token": "00" + _pick(rng, URLSAFE, 40),
        "scalingo-token": "tk-us-" + _pick(rng, URLSAFE, 48),
        "infracost-api-key": "ico-" + _pick(rng, ALNUM, 32),
        "kubeconfig-client-key": _kube_key(rng),
        "yandex-cloud-key": "AQVN" + _pick(rng, URLSAFE, 36),
        "fastly-api-token": _pick(rng, URLSAFE, 32),
        "confluent-key": _pick(rng, ALNUM, 64),
    }


def _tokens_saas(rng: random.Random) -> dict[str, str]:
    return {
        "slack-token": f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**12, 10**13)}-"
                       + _pick(rng, ALNUM, 24),
        "slack-webhook": (f"https://hooks.slack.com/services/T{_pick(rng, UPPER, 8)}/"
                          f"B{_pick(rng, UPPER, 10)}/{_pick(rng, ALNUM, 24)}"),
        "teams-webhook": (f"https://contoso.webhook.office.com/webhookb2/{_uuid(rng)}@"
                          f"{_uuid(rng)}/IncomingWebhook/{_pick(rng, HEX, 32)}/{_uuid(rng)}"),
        "discord-bot-token": _discord(rng),
        "discord-webhook": (f"https://discord.com/api/webhooks/{_digits(rng, 18)}/"
                            f"{_pick(rng, URLSAFE, 68)}"),
        "telegram-bot-token": f"{_digits(rng, 10)}:AA{_pick(rng, URLSAFE, 33)}",
        "stripe-key": "sk_live_" + _pick(rng, ALNUM, 24),
        "square-token": "EAAA" + _pick(rng, URLSAFE, 60),
        "facebook-access-token": "EAAG" + _pick(rng, ALNUM, 150),
        "facebook-app-secret": _pick(rng, HEX, 32),
        "twitter-bearer-token": "A" * 22 + _pick(rng, ALNUM + "%", 90),
        "twitter-secret": _pick(rng, ALNUM, 50),
        "linkedin-client-secret": _pick(rng, ALNUM, 16),
        "shopify-token": "shpat_" + _pick(rng, HEX, 32),
        "twilio-api-key": "SK" + _pick(rng, HEX, 32),
        "twilio-auth-token": _pick(rng, HEX, 32),
        "sendgrid-api-key": f"SG.{_pick(rng, URLSAFE, 22)}.{_pick(rng, URLSAFE, 43)}",
        "mailchimp-api-key": f"{_pick(rng, HEX, 32)}-us{rng.randint(1, 21)}",
        "mailgun-api-key": "key-" + _pick(rng, HEX, 32),
        "hubspot-token": "pat-na1-" + _uuid(rng),
        "hubspot-api-key": _uuid(rng),
        "notion-token": "ntn_" + _pick(rng, string.digits, 11) + _pick(rng, ALNUM, 35),
        "airtable-token": f"pat{_pick(rng, ALNUM, 14)}.{_pick(rng, HEX, 64)}",
        "airtable-api-key": "key" + _pick(rng, ALNUM, 14),
        "asana-token": f"2/{_digits(rng, 16)}/{_digits(rng, 16)}:{_pick(rng, HEX, 32)}",
        "asana-client-secret": _pick(rng, ALNUM, 32),
        "dropbox-token": "sl." + _pick(rng, URLSAFE, 140),
        "dropbox-long-lived-token": _pick(rng, ALNUM, 11) + "A" * 10 + _pick(rng, URLSAFE, 43),
        "adobe-client-secret": "p8e-" + _pick(rng, URLSAFE, 32),
        "adobe-client-id": _pick(rng, HEX, 32),
        "age-secret-key": _age(rng),
        "algolia-api-key": _pick(rng, HEX, 32),
        "zendesk-token": _pick(rng, ALNUM, 40),
        "shippo-token": "shippo_live_" + _pick(rng, HEX, 40),
        "flutterwave-key": f"FLWSECK_TEST-{_pick(rng, 'abcdefgh0123456789', 32)}-X",
        "easypost-api-key": "EZAK" + _pick(rng, ALNUM, 54),
        "duffel-token": "duffel_live_" + _pick(rng, URLSAFE, 43),
        "mapbox-secret-token": ("sk." + _b64json({"u": _pick(rng, LOWER, 8),
                                                  "a": _pick(rng, LOWER, 25)}, True)
                                + f".{_pick(rng, URLSAFE, 22)}"),
        "frameio-token": "fio-u-" + _pick(rng, URLSAFE, 64),
        "brevo-api-key": f"xkeysib-{_pick(rng, HEX, 64)}-{_pick(rng, ALNUM, 16)}",
        "resend-api-key": f"re_{_pick(rng, ALNUM, 8)}_{_pick(rng, ALNUM, 24)}",
        "braintree-token": (f"access_token$production${_pick(rng, LOWER, 16)}$"
                            f"{_pick(rng, HEX, 32)}"),
        "firebase-fcm-server-key": (f"AAAA{_pick(rng, URLSAFE, 7)}:APA91b"
                                    f"{_pick(rng, URLSAFE, 134)}"),
        "zapier-webhook": (f"https://hooks.zapier.com/hooks/catch/{_digits(rng, 7)}/"
                           f"{_pick(rng, LOWER, 7)}/"),
        "tailscale-key": f"tskey-auth-k{_pick(rng, ALNUM, 11)}-{_pick(rng, ALNUM, 33)}",
        "intercom-token": _pick(rng, URLSAFE, 60),
        "contentful-token": _pick(rng, URLSAFE, 43),
        "trello-api-key": _pick(rng, ALNUM, 32),
        "postmark-token": _uuid(rng),
        "mailjet-key": _pick(rng, ALNUM, 32),
        "etsy-api-key": _pick(rng, LOWER, 24),
        "auth0-client-secret": _pick(rng, URLSAFE, 64),
        "ngrok-authtoken": f"{rng.randint(1, 9)}{_pick(rng, ALNUM, 26)}_{_pick(rng, ALNUM, 21)}",
    }


def _tokens_apps(rng: random.Random) -> dict[str, str]:
    return {
        "plaid-access-token": "access-production-" + _uuid(rng),
        "plaid-secret": _pick(rng, LOWER, 30),
        "sidekiq-credentials": f"{_pick(rng, HEX, 8)}:{_pick(rng, HEX, 8)}",
        "typeform-token": "tfp_" + _pick(rng, URLSAFE, 59),
        "readme-api-key": "rdme_" + _pick(rng, LOWER, 70),
        "settlemint-token": "sm_pat_" + _pick(rng, ALNUM, 16),
        "intra42-client-secret": "s-s4t2ud-" + _pick(rng, HEX, 64),
        "gocardless-token": "live_" + _pick(rng, URLSAFE, 40),
        "lob-api-key": "live_" + _pick(rng, HEX, 35),
        "coinbase-token": _pick(rng, URLSAFE, 64),
        "kraken-token": _pick(rng, tok_b64(), 88),
        "bittrex-key": _pick(rng, ALNUM, 32),
        "twitch-token": _pick(rng, LOWER, 30),
        "mattermost-token": _pick(rng, LOWER, 26),
        "messagebird-token": _pick(rng, ALNUM, 25),
        "nytimes-token": _pick(rng, URLSAFE, 32),
        "rapidapi-key": _pick(rng, URLSAFE, 50),
        "sendbird-token": _pick(rng, HEX, 40),
        "flickr-token": _pick(rng, LOWER, 32),
        "finnhub-token": _pick(rng, LOWER, 20),
        "freshbooks-token": _pick(rng, LOWER, 64),
        "adafruit-key": _pick(rng, URLSAFE, 32),
        "beamer-token": "b_" + _pick(rng, URLSAFE, 44),
        "droneci-token": _pick(rng, ALNUM, 32),
        "gitter-token": _pick(rng, URLSAFE, 40),
        "squarespace-token": _uuid(rng),
    }


def tok_b64() -> str:
    return B64 + "="


def _tokens_generic(rng: random.Random) -> dict[str, str]:
    basic = base64.b64encode(f"svc-{_pick(rng, LOWER, 4)}:{_pick(rng, ALNUM, 18)}".encode())
    docker = base64.b64encode(f"ci-{_pick(rng, LOWER, 4)}:{_pick(rng, ALNUM, 24)}".encode())
    return {
        "jwt": _jwt(rng),
        "private-key": _pem(rng),
        "url-password": _pick(rng, ALNUM, 16),
        "curl-basic-auth": f"deploy:{_pick(rng, ALNUM, 18)}",
        "authorization-basic": basic.decode(),
        "authorization-bearer": _pick(rng, ALNUM, 40),
        "api-key-header": _pick(rng, ALNUM, 32),
        "docker-config-auth": docker.decode(),
        "netrc-password": _pick(rng, ALNUM, 20),
        "credential-assignment": _pick(rng, ALNUM, 14) + "7q",
        "generic-secret": _pick(rng, ALNUM, 32),
    }


def tokens(seed: int = 0) -> dict[str, str]:
    """rule id -> a fresh credential of that format."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a credential
    out: dict[str, str] = {}
    for part in (_tokens_ai, _tokens_code, _tokens_cloud, _tokens_saas, _tokens_apps,
                 _tokens_generic):
        out.update(part(rng))
    return out


# Variable names for the values that need one next to them (keyed rules).
NAMES = {
    "cohere-api-key": "COHERE_API_KEY", "mistral-api-key": "MISTRAL_API_KEY",
    "pinecone-legacy-api-key": "PINECONE_API_KEY", "together-api-key": "TOGETHER_API_KEY",
    "elevenlabs-api-key": "ELEVENLABS_API_KEY", "atlassian-legacy-token": "JIRA_API_TOKEN",
    "sonarqube-legacy-token": "SONAR_TOKEN", "snyk-token": "SNYK_TOKEN",
    "sentry-legacy-token": "SENTRY_AUTH_TOKEN", "vault-legacy-token": "VAULT_TOKEN",
    "azure-devops-legacy-pat": "AZURE_DEVOPS_PAT", "aws-session-token": "AWS_SESSION_TOKEN",
    "azure-openai-key": "AZURE_OPENAI_API_KEY",
    "alibaba-access-key-secret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "heroku-legacy-api-key": "HEROKU_API_KEY", "cloudflare-api-token": "CLOUDFLARE_API_TOKEN",
    "datadog-api-key": "DD_API_KEY", "sumologic-key": "SUMOLOGIC_ACCESS_KEY",
    "okta-token": "OKTA_API_TOKEN", "facebook-app-secret": "FACEBOOK_APP_SECRET",
    "twitter-secret": "TWITTER_API_SECRET", "linkedin-client-secret": "LINKEDIN_CLIENT_SECRET",
    "twilio-auth-token": "TWILIO_AUTH_TOKEN", "hubspot-api-key": "HUBSPOT_API_KEY",
    "airtable-api-key": "AIRTABLE_API_KEY", "asana-client-secret": "ASANA_CLIENT_SECRET",
    "dropbox-long-lived-token": "DROPBOX_TOKEN", "adobe-client-id": "ADOBE_CLIENT_ID",
    "algolia-api-key": "ALGOLIA_ADMIN_KEY", "zendesk-token": "ZENDESK_API_TOKEN",
    "twilio-api-key": "TWILIO_API_KEY", "discord-bot-token": "DISCORD_BOT_TOKEN",
    "netlify-legacy-token": "NETLIFY_AUTH_TOKEN", "launchdarkly-key": "LAUNCHDARKLY_API_KEY",
    "codecov-token": "CODECOV_TOKEN", "bitbucket-client-secret": "BITBUCKET_CLIENT_SECRET",
    "travis-token": "TRAVIS_API_TOKEN", "fastly-api-token": "FASTLY_API_TOKEN",
    "confluent-key": "CONFLUENT_CLOUD_API_SECRET", "intercom-token": "INTERCOM_ACCESS_TOKEN",
    "contentful-token": "CONTENTFUL_ACCESS_TOKEN", "trello-api-key": "TRELLO_API_KEY",
    "postmark-token": "POSTMARK_SERVER_TOKEN", "mailjet-key": "MAILJET_API_SECRET",
    "etsy-api-key": "ETSY_API_KEY", "auth0-client-secret": "AUTH0_CLIENT_SECRET",
    "ngrok-authtoken": "NGROK_AUTHTOKEN", "plaid-secret": "PLAID_SECRET",
    "gocardless-token": "GOCARDLESS_ACCESS_TOKEN", "lob-api-key": "LOB_API_KEY",
    "coinbase-token": "COINBASE_ACCESS_TOKEN", "kraken-token": "KRAKEN_API_SECRET",
    "bittrex-key": "BITTREX_API_SECRET", "twitch-token": "TWITCH_CLIENT_SECRET",
    "mattermost-token": "MATTERMOST_ACCESS_TOKEN", "messagebird-token": "MESSAGEBIRD_API_KEY",
    "nytimes-token": "NYTIMES_API_KEY", "rapidapi-key": "RAPIDAPI_KEY",
    "sendbird-token": "SENDBIRD_API_TOKEN", "flickr-token": "FLICKR_API_KEY",
    "finnhub-token": "FINNHUB_API_KEY", "freshbooks-token": "FRESHBOOKS_ACCESS_TOKEN",
    "adafruit-key": "ADAFRUIT_IO_KEY", "beamer-token": "BEAMER_API_KEY",
    "droneci-token": "DRONE_TOKEN", "gitter-token": "GITTER_TOKEN",
    "squarespace-token": "SQUARESPACE_API_KEY",
    "sidekiq-credentials": "BUNDLE_ENTERPRISE__CONTRIBSYS__COM",
}


def line_for(rule: str, value: str) -> tuple[str, str]:
    """(file name, file content) planting ``value`` the way it appears in real projects."""
    layouts = {
        "aws-access-key-id": ("deploy/aws.env", f"AWS_ACCESS_KEY_ID={value}\n"),
        "aws-secret-access-key": ("deploy/aws.cfg",
                                  f"[default]\naws_secret_access_key = {value}\n"),
        "wandb-api-key": ("train/settings.py", f'WANDB_API_KEY = "{value}"\n'),
        "wandb-netrc": ("home/.netrc", f"machine api.wandb.ai\n  login user\n  password {value}\n"),
        "url-password": ("app/db.py",
                         f'DATABASE_URL = "postgresql://svc:{value}@db.internal:5432/app"\n'),
        "credential-assignment": ("app/.env", f"DB_PASSWORD={value}\n"),
        "generic-secret": ("app/client.py", f'client_secret = "{value}"\n'),
        "private-key": ("keys/id_rsa", value + "\n"),
        "jwt": ("tests/fixtures.py", f'AUTH = "Bearer {value}"\n'),
        "gitlab-session-cookie": ("notes/debug.txt", f"Cookie: _gitlab_session={value}; path=/\n"),
        "azure-ad-client-secret": ("deploy/azure.yaml", f"azure:\n  client_secret: {value}\n"),
        "azure-storage-key": ("app/storage.py", 'CONN = "DefaultEndpointsProtocol=https;'
                              f'AccountName=acct1;AccountKey={value};EndpointSuffix='
                              'core.windows.net"\n'),
        "azure-shared-access-key": ("app/bus.py", 'BUS = "Endpoint=sb://ns1.servicebus.windows'
                                    '.net/;SharedAccessKeyName=RootManageSharedAccessKey;'
                                    f'SharedAccessKey={value}"\n'),
        "azure-sas-token": ("app/blob.py", 'URL = "https://acct1.blob.core.windows.net/c/f.bin?'
                            f'sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig={value}"\n'),
        "kubeconfig-client-key": ("deploy/kubeconfig", "users:\n- name: admin\n  user:\n"
                                  f"    client-key-data: {value}\n"),
        "curl-basic-auth": ("scripts/deploy.sh",
                            f"curl -fsS -u {value} https://ci.internal.io/api/deploy\n"),
        "authorization-basic": ("scripts/call.sh", f'curl -H "Authorization: Basic {value}" '
                                "https://api.internal.io/v1/jobs\n"),
        "authorization-bearer": ("app/http.py",
                                 f'HEADERS = {{"Authorization": "Bearer {value}"}}\n'),
        "api-key-header": ("scripts/query.sh", f'curl -H "X-API-Key: {value}" '
                           "https://api.internal.io/v1/items\n"),
        "docker-config-auth": ("home/.docker/config.json",
                               '{"auths": {"registry.internal.io": {"auth": "' + value
                               + '"}}}\n'),
        "netrc-password": ("home/.netrc",
                           f"machine git.internal.io\n  login ci\n  password {value}\n"),
    }
    if rule in NAMES:
        return f"config/{rule.replace('-', '_')}.env", f"{NAMES[rule]}={value}\n"
    return layouts.get(rule, (f"src/{rule.replace('-', '_')}.py",
                              f'API_TOKEN = "{value}"  # {rule}\n'))
