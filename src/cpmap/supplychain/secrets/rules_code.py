"""Rules for code hosting, CI/CD, package registries and developer tools.

Formats from each provider's documentation of its token prefixes; where a checksum is part of the
format (GitHub and npm: CRC32 of the random part in the last 6 base62 characters) it is checked.
"""

from __future__ import annotations

from cpmap.supplychain.secrets import validators as v
from cpmap.supplychain.secrets.rule import L, R, Rule, fmt, keyed

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _github_classic(secret: str) -> bool:
    # the 2021 format (prefix + 30 random + 6 CRC32) is checked; longer tokens are newer formats
    return len(secret) != 40 or v.crc32_suffix(secret)


CODE: tuple[Rule, ...] = (
    fmt("github-token", "GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        rf"(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{{36,255}}){R}", "GitHub",
        min_entropy=3.5, validate=_github_classic),
    fmt("github-fine-grained-token", "GitHub fine-grained token", ("github_pat_",),
        rf"{L}(github_pat_[A-Za-z0-9]{{22}}_[A-Za-z0-9]{{59}}){R}", "GitHub", min_entropy=3.5),
    fmt("gitlab-token", "GitLab token",
        ("glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glsoat-", "glft-", "glimt-",
         "glagent-", "gloas-", "glffct-"),
        r"(?<![A-Za-z0-9_\-])(gl(?:pat|dt|rt|soat|ft|imt|agent|oas|ffct)-[A-Za-z0-9_\-]{20,300}"
        r"(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?|glcbt-[0-9A-Za-z]{1,5}_[A-Za-z0-9_\-]{20}|"
        r"glptt-[0-9a-f]{40})(?![A-Za-z0-9_\-])", "GitLab", min_entropy=3.3),
    fmt("gitlab-runner-registration-token", "GitLab runner registration token",
        ("gr1348941",), rf"{L}(GR1348941[A-Za-z0-9_\-]{{20}})(?![A-Za-z0-9_\-])", "GitLab",
        min_entropy=3.3),
    fmt("gitlab-session-cookie", "GitLab session cookie", ("_gitlab_session",),
        r"_gitlab_session=([0-9a-z]{32})(?![0-9a-z])", "GitLab", min_entropy=3.0),
    fmt("atlassian-api-token", "Atlassian API token", ("atatt3", "atctt3"),
        rf"{L}((?:ATATT|ATCTT)3[A-Za-z0-9_\-=]{{186}})(?![A-Za-z0-9_\-=])", "Atlassian",
        min_entropy=4.0),
    keyed("atlassian-legacy-token", "Atlassian (Jira/Confluence) API token",
          ("jira", "confluence", "atlassian"), r"[a-z0-9]{24}", "Atlassian", min_entropy=3.5),
    fmt("bitbucket-app-password", "Bitbucket app password", ("atbb",),
        rf"{L}(ATBB[A-Za-z0-9_=.\-]{{32}}){R}", "Atlassian", min_entropy=3.5),
    fmt("npm-token", "npm access token", ("npm_",),
        rf"(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{{36}}){R}", "npm", min_entropy=3.5,
        validate=v.crc32_suffix),
    fmt("pypi-token", "PyPI upload token",
        ("pypi-ageichlwas5vcmc", "pypi-agendgvzdc5wexbplm9yzw"),
        r"(?<![A-Za-z0-9_\-])(pypi-Ag(?:EIcHlwaS5vcmc|ENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})",
        "PyPI", min_entropy=4.0),
    fmt("rubygems-token", "RubyGems API key", ("rubygems_",),
        rf"{L}(rubygems_[a-f0-9]{{48}}){R}", "RubyGems", min_entropy=3.0),
    fmt("dockerhub-token", "Docker Hub access token", ("dckr_pat_", "dckr_oat_"),
        r"(?<![A-Za-z0-9_])(dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,})(?![A-Za-z0-9_\-])",
        "Docker", min_entropy=3.5),
    fmt("jfrog-token", "JFrog API key or identity token", ("akcp", "cmvmdgtu"),
        rf"{L}(AKCp[A-Za-z0-9]{{69}}|cmVmdGtuOjAxOj[A-Za-z0-9+/]{{46,60}}){R}", "JFrog",
        min_entropy=4.0),
    fmt("sonarqube-token", "SonarQube token", ("sqp_", "squ_", "sqa_"),
        rf"(?<![A-Za-z0-9_])(sq[pua]_[a-f0-9]{{40}}){R}", "SonarQube", min_entropy=3.0),
    keyed("sonarqube-legacy-token", "SonarQube token", ("sonar",), r"[a-f0-9]{40}",
          "SonarQube"),
    fmt("sourcegraph-token", "Sourcegraph access token", ("sgp_",),
        rf"(?<![A-Za-z0-9_])(sgp_(?:[a-f0-9]{{16}}_|local_)?[a-f0-9]{{40}}){R}", "Sourcegraph",
        min_entropy=3.0),
    keyed("snyk-token", "Snyk API token", ("snyk",), UUID, "Snyk"),
    fmt("sentry-token", "Sentry auth token", ("sntryu_", "sntrys_"),
        r"(?<![A-Za-z0-9_])(sntryu_[a-f0-9]{64}|sntrys_eyJ[A-Za-z0-9+/=]{40,}_[A-Za-z0-9+/]{43})"
        r"(?![A-Za-z0-9+/=])", "Sentry", min_entropy=3.5),
    keyed("sentry-legacy-token", "Sentry auth token", ("sentry",), r"[a-f0-9]{64}", "Sentry"),
    fmt("doppler-token", "Doppler token", ("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.",
                                          "dp.audit."),
        rf"{L}(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{{40,44}}){R}", "Doppler",
        min_entropy=3.5),
    fmt("onepassword-service-account-token", "1Password service account token", ("ops_eyj",),
        r"(?<![A-Za-z0-9_])(ops_eyJ[A-Za-z0-9+/]{250,}={0,3})", "1Password", min_entropy=4.0),
    fmt("onepassword-secret-key", "1Password account secret key", ("a3-",),
        rf"{L}(A3-[A-Z0-9]{{6}}-(?:[A-Z0-9]{{11}}|[A-Z0-9]{{6}}-[A-Z0-9]{{5}})"
        rf"-[A-Z0-9]{{5}}-[A-Z0-9]{{5}}-[A-Z0-9]{{5}}){R}", "1Password", min_entropy=3.0),
    fmt("terraform-cloud-token", "HashiCorp Terraform Cloud API token", (".atlasv1.",),
        r"(?<![a-z0-9])([a-z0-9]{14}\.atlasv1\.[a-z0-9\-_=]{60,70})(?![a-z0-9\-_=])",
        "HashiCorp", min_entropy=3.5),
    fmt("vault-token", "HashiCorp Vault token", ("hvs.", "hvb."),
        rf"{L}(hvs\.[A-Za-z0-9_\-]{{90,120}}|hvb\.[A-Za-z0-9_\-]{{138,300}})(?![A-Za-z0-9_\-])",
        "HashiCorp", min_entropy=4.0),
    keyed("vault-legacy-token", "HashiCorp Vault token (legacy s.)", ("vault",),
          r"s\.[a-z0-9]{24}", "HashiCorp", min_entropy=3.5),
    fmt("pulumi-token", "Pulumi access token", ("pul-",), rf"{L}(pul-[a-f0-9]{{40}}){R}",
        "Pulumi", min_entropy=3.0),
    fmt("postman-api-key", "Postman API key", ("pmak-",),
        rf"{L}(PMAK-[a-f0-9]{{24}}-[a-f0-9]{{34}}){R}", "Postman", min_entropy=3.0),
    fmt("linear-api-key", "Linear API key", ("lin_api_",),
        rf"(?<![A-Za-z0-9_])(lin_api_[A-Za-z0-9]{{40}}){R}", "Linear", min_entropy=3.5),
    fmt("databricks-token", "Databricks access token", ("dapi",),
        rf"{L}(dapi[a-f0-9]{{32}}(?:-\d)?){R}", "Databricks", min_entropy=3.0),
    fmt("azure-devops-pat", "Azure DevOps personal access token", ("azdo",),
        rf"{L}([A-Za-z0-9]{{76}}AZDO[A-Za-z0-9]{{4}}){R}",
        "Microsoft", min_entropy=4.0),
    keyed("azure-devops-legacy-pat", "Azure DevOps personal access token",
          ("azure_devops", "azure-devops", "azuredevops", "ado_pat", "azdo", "vsts"),
          r"[a-z2-7]{52}", "Microsoft", min_entropy=3.5),
    fmt("prefect-api-key", "Prefect API key", ("pnu_",),
        rf"(?<![A-Za-z0-9_])(pnu_[A-Za-z0-9]{{36}}){R}", "Prefect", min_entropy=3.5),
    fmt("clojars-token", "Clojars deploy token", ("clojars_",),
        rf"{L}(CLOJARS_[a-z0-9]{{60}}){R}", "Clojars", min_entropy=3.5),
    fmt("harness-token", "Harness access token", ("pat.", "sat."),
        rf"{L}((?:pat|sat)\.[A-Za-z0-9_\-]{{22}}\.[a-f0-9]{{24}}\.[A-Za-z0-9]{{20}}){R}",
        "Harness", min_entropy=3.5),
    fmt("octopus-deploy-api-key", "Octopus Deploy API key", ("api-",),
        rf"{L}(API-[A-Z0-9]{{26}}){R}", "Octopus Deploy", min_entropy=3.5),
)
