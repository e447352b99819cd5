"""Secret detection rules: a keyword prefilter, one compiled regex, and checks on the match.

Each rule names lowercase keywords; a text is matched against a rule only if one of them occurs
in it (one ``in`` test per distinct keyword on the lowercased text is far cheaper than a regex).
Token formats with a distinctive prefix (``ghp_``, ``sk-ant-``, ``hf_``, ``AKIA``...) need no
context; formats that are just random characters (Datadog keys, AWS secret keys, passwords) need
a key name next to them, and for those the entropy of the value must look random. The provider
rules live in one module per family (:mod:`rules_code`, :mod:`rules_cloud`, :mod:`rules_saas`,
:mod:`rules_ai`, :mod:`rules_apps`); this module adds the provider-independent ones and fixes the
order: the more precise rule comes first, and a later match inside its span is not reported
again.
"""

from __future__ import annotations

from cpmap.core.findings import Severity
from cpmap.supplychain.secrets import validators as v
from cpmap.supplychain.secrets.rule import Rule, fmt, rx
from cpmap.supplychain.secrets.rules_ai import AI
from cpmap.supplychain.secrets.rules_apps import APPS
from cpmap.supplychain.secrets.rules_cloud import CLOUD
from cpmap.supplychain.secrets.rules_code import CODE
from cpmap.supplychain.secrets.rules_saas import SAAS

__all__ = ["GENERIC", "LOOSE", "RULES", "SECRET_WORDS", "Rule"]

SECRET_WORDS = r"(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|" \
               r"private[_-]?key|client[_-]?secret|auth[_-]?token|credential|bearer)"  # noqa: S105 - a pattern

STRUCTURE: tuple[Rule, ...] = (
    fmt("jwt", "JSON Web Token", ("eyj",),
        r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})", "JWT",
        severity=Severity.MEDIUM, validate=v.jwt_header),
    Rule("private-key", "Private key block", ("private key",),
         rx(r"-----BEGIN[ A-Z0-9]{0,20} PRIVATE KEY(?: BLOCK)?-----(?:\\[rn]|\s)*"
            r"((?:Proc-Type:[^\n]*\n|DEK-Info:[^\n]*\n|\s)*[A-Za-z0-9+/]{40,})"),
         Severity.CRITICAL, at_match=True, provider="Private key"),
    Rule("url-password", "Password in URL", ("://",),
         rx(r"://[^\s:@/\"'<>]{1,64}:([^\s@/\"'<>]{3,128})@"
            r"[A-Za-z0-9.\-_\[\]]+"), provider="Password"),
)

# Matched on the lowercased text (case-insensitive header names without IGNORECASE, which
# would make every one of them a scan of every position); values read from the original.
HEADERS: tuple[Rule, ...] = (
    Rule("curl-basic-auth", "Credentials given to curl -u", ("curl",),
         rx(r"curl\b[^\n]{0,300}?\s(?:-u|--user)(?:[ \t]+|=)[\"']?"
            r"([^\s\"':@]{1,64}:[^\s\"']{4,128}?)[\"']?(?=\s|$)"), validate=v.user_password,
         on_lower=True, provider="HTTP auth"),
    Rule("authorization-basic", "HTTP Basic credentials", ("basic",),
         rx(r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+([a-z0-9+/]{8,}={0,2})"),
         validate=v.basic_credential, on_lower=True, provider="HTTP auth"),
    Rule("authorization-bearer", "Bearer token in an Authorization header", ("authorization",),
         rx(r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:bearer|token)[ \t]+"
            r"([a-z0-9_\-.~+/]{20,500}=*)"), min_entropy=3.5, validate=v.opaque, on_lower=True,
         provider="HTTP auth"),
    Rule("api-key-header", "API key in an HTTP header",
         ("x-api-key", "api-key", "x-auth-token", "x-access-token"),
         rx(r"(?:x-api-key|api-key|x-auth-token|x-access-token)[\"']?[ \t]*:[ \t]*[\"']?"
            r"([a-z0-9_\-.~+/]{20,200}=*)"), min_entropy=3.5, validate=v.opaque, on_lower=True,
         provider="HTTP auth"),
    Rule("docker-config-auth", "Registry credentials in a Docker config", ("\"auth\"",),
         rx(r"\"auth\"[ \t]*:[ \t]*\"([A-Za-z0-9+/]{8,}={0,2})\""), validate=v.basic_credential,
         provider="Docker"),
    Rule("netrc-password", "Password in a .netrc entry", ("machine",),
         rx(r"machine[ \t]+\S+\s+login[ \t]+\S+\s+password[ \t]+(\S{6,128})"),
         provider="Password"),
)

# The two key-name rules run on the lowercased text (no IGNORECASE: several times faster),
# start at the key word (a leading [\w]* would backtrack at every position), and take the
# value from the original text at the same offsets.
ASSIGNMENTS: tuple[Rule, ...] = (
    Rule("credential-assignment", "Credential assigned in a config file",
         ("pass", "pwd", "secret", "token", "key", "credential", "auth"),
         rx(r"(?m)^[ \t]*(?:export[ \t]+)?[\"']?[\w.\-]{0,40}?" + SECRET_WORDS +
            r"[\w.\-]{0,40}[\"']?[ \t]*[:=][ \t]*[\"']?([^\s\"'#,;]{6,200})"),
         Severity.MEDIUM, min_entropy=2.5, config_only=True, on_lower=True,
         provider="Password"),
    Rule("generic-secret", "High-entropy secret assigned to a secret-named variable",
         ("pass", "pwd", "secret", "token", "key", "credential", "auth", "bearer"),
         rx(SECRET_WORDS + r"[\w.\-]{0,40}[\"']?\s*(?:[:=]|==|:=|=>)\s*[rbuf]?[\"']"
            r"([a-z0-9+/=_\-.~]{16,200})[\"']"),
         Severity.MEDIUM, min_entropy=3.6, on_lower=True, provider="Generic"),
)

_PROVIDERS = (*AI, *CODE, *CLOUD, *SAAS, *APPS)
# token formats first, then the provider-keyed values (a format match wins an overlap)
RULES: tuple[Rule, ...] = (*(r for r in _PROVIDERS if not r.on_lower), *STRUCTURE,
                           *(r for r in _PROVIDERS if r.on_lower), *HEADERS, *ASSIGNMENTS)

# Key-name rules: only outside lock files, with the context allowlist of engine.py.
GENERIC = frozenset({"credential-assignment", "generic-secret"})
# Values people type by hand: the placeholder list for generic values applies to them.
LOOSE = GENERIC | {"url-password", "curl-basic-auth", "netrc-password", "authorization-bearer",
                   "api-key-header"}
