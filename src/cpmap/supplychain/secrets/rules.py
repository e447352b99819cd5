"""Secret detection rules: a keyword prefilter, one compiled regex, and checks on the match.

Each rule names lowercase keywords; a file is matched against a rule only if one of them occurs
in it (one ``in`` test on the lowercased text is far cheaper than a regex). Token formats with a
distinctive prefix (``ghp_``, ``sk-ant-``, ``hf_``, ``AKIA``...) need no context; formats that
are just random characters (W&B keys, AWS secret keys, generic passwords) need a key name next
to them, and for those the entropy of the value must look random.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cpmap.core.findings import Severity

SECRET_WORDS = r"(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|" \
               r"private[_-]?key|client[_-]?secret|auth[_-]?token|credential|bearer)"  # noqa: S105 - a pattern


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    severity: Severity = Severity.HIGH
    group: int = 1
    min_entropy: float = 0.0  # Shannon bits per char of the secret; 0: the format suffices
    config_only: bool = False  # only in .env / config files (generic assignments)
    at_match: bool = False  # report the line where the match starts (a key's BEGIN line)
    on_lower: bool = False  # the pattern is matched against the lowercased text


def _r(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


RULES: tuple[Rule, ...] = (
    Rule("aws-access-key-id", "AWS access key id", ("akia", "asia", "abia", "acca"),
         _r(r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b"), min_entropy=2.8),
    Rule("aws-secret-access-key", "AWS secret access key",
         ("secret_access_key", "secretaccesskey", "aws_secret", "secret-access-key"),
         _r(r"(?i)(?:aws)?_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})"
            r"(?![A-Za-z0-9/+])"), min_entropy=4.0),
    Rule("github-token", "GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
         _r(r"\b(gh[pousr]_[A-Za-z0-9]{36,255})\b"), min_entropy=3.5),
    Rule("github-fine-grained-token", "GitHub fine-grained token", ("github_pat_",),
         _r(r"\b(github_pat_[A-Za-z0-9_]{82})\b"), min_entropy=3.5),
    Rule("gitlab-token", "GitLab token",
         ("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glsoat-", "glft-", "glimt-"),
         _r(r"\b(gl(?:pat|dt|rt|cbt|ptt|soat|ft|imt)-[A-Za-z0-9_\-]{20,})"), min_entropy=3.3),
    Rule("slack-token", "Slack token", ("xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"),
         _r(r"\b((?:xox[baprs]|xapp)-[0-9A-Za-z-]{10,250})"), min_entropy=3.0),
    Rule("slack-webhook", "Slack incoming webhook", ("hooks.slack.com",),
         _r(r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,})")),
    Rule("stripe-key", "Stripe secret key",
         ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"),
         _r(r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,247}|whsec_[0-9A-Za-z]{32,})\b"),
         min_entropy=3.3),
    Rule("google-api-key", "Google API key", ("aiza",),
         _r(r"\b(AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])"), min_entropy=3.5),
    Rule("google-oauth-secret", "Google OAuth client secret", ("gocspx-",),
         _r(r"\b(GOCSPX-[A-Za-z0-9_\-]{28})(?![A-Za-z0-9_\-])"), min_entropy=3.3),
    Rule("anthropic-api-key", "Anthropic API key", ("sk-ant-",),
         _r(r"\b(sk-ant-(?:api\d\d|admin\d\d|sid\d\d)-[A-Za-z0-9_\-]{80,120})"),
         Severity.CRITICAL, min_entropy=4.0),
    Rule("openai-api-key", "OpenAI API key", ("sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"),
         _r(r"\b(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ"
            r"[A-Za-z0-9]{20}))(?![A-Za-z0-9_\-])"), Severity.CRITICAL, min_entropy=4.0),
    Rule("huggingface-token", "Hugging Face token", ("hf_", "api_org_"),
         _r(r"\b((?:hf_|api_org_)[A-Za-z]{34})\b"), min_entropy=3.5),
    Rule("wandb-netrc", "Weights & Biases API key (.netrc)", ("api.wandb.ai",),
         _r(r"machine\s+api\.wandb\.ai\s+(?:login\s+\S+\s+)?password\s+([a-f0-9]{40})\b"),
         min_entropy=3.2),
    Rule("wandb-api-key", "Weights & Biases API key", ("wandb",),
         _r(r"(?i)wandb[\w.\-]*[\"']?\s*(?:[:=]|\s)\s*[\"']?(?:login\s+\S+\s+)?(?:password\s+)?"
            r"([a-f0-9]{40}|(?:local-)?[a-f0-9]{40}|wandb_v1_[A-Za-z0-9_]{40,})\b"),
         min_entropy=3.2),
    Rule("jwt", "JSON Web Token", ("eyj",),
         _r(r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})"),
         Severity.MEDIUM),
    Rule("private-key", "Private key block", ("private key",),
         _r(r"-----BEGIN[ A-Z0-9]{0,20} PRIVATE KEY(?: BLOCK)?-----(?:\\[rn]|\s)*"
            r"((?:Proc-Type:[^\n]*\n|DEK-Info:[^\n]*\n|\s)*[A-Za-z0-9+/]{40,})"),
         Severity.CRITICAL, at_match=True),
    Rule("url-password", "Password in URL", ("://",),
         _r(r"://[^\s:@/\"'<>]{1,64}:([^\s@/\"'<>]{3,128})@"
            r"[A-Za-z0-9.\-_\[\]]+")),
    # The two key-name rules run on the lowercased text (no IGNORECASE: several times faster),
    # start at the key word (a leading [\w]* would backtrack at every position), and take the
    # value from the original text at the same offsets.
    Rule("credential-assignment", "Credential assigned in a config file",
         ("pass", "pwd", "secret", "token", "key", "credential", "auth"),
         _r(r"(?m)^[ \t]*(?:export[ \t]+)?[\"']?[\w.\-]{0,40}?" + SECRET_WORDS +
            r"[\w.\-]{0,40}[\"']?[ \t]*[:=][ \t]*[\"']?([^\s\"'#,;]{6,200})"),
         Severity.MEDIUM, min_entropy=2.5, config_only=True, on_lower=True),
    Rule("generic-secret", "High-entropy secret assigned to a secret-named variable",
         ("pass", "pwd", "secret", "token", "key", "credential", "auth", "bearer"),
         _r(SECRET_WORDS + r"[\w.\-]{0,40}[\"']?\s*(?:[:=]|==|:=|=>)\s*[rbuf]?[\"']"
            r"([a-z0-9+/=_\-.~]{16,200})[\"']"),
         Severity.MEDIUM, min_entropy=3.6, on_lower=True),
)

# Key-name rules: only outside lock files, with the context allowlist of engine.py.
GENERIC = frozenset({"credential-assignment", "generic-secret"})
