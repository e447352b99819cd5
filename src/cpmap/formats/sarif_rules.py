"""What each SARIF rule says: a short and a full description, help and a help link.

Code-scanning dashboards show a rule's texts once, above every alert of that rule, so they must
belong to the rule and never to one result (a dependency rule whose help said "upgrade requests"
for every package was the bug this module fixes). The texts come from the catalogues that
already describe the rules (the secret rules, the red-team rules, the control registry) and from
the table below for the fixed-id rules; a rule nobody describes gets a text built from its
control, so that GitHub's required ``fullDescription`` and ``help`` are never missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCS = "https://github.com/cpmap/cpmap/blob/main/docs/"


@dataclass(frozen=True)
class RuleText:
    short: str
    full: str
    help: str
    help_uri: str

    @property
    def markdown(self) -> str:
        return f"**{self.short}**\n\n{self.full}\n\n{self.help}\n\n[Documentation]({self.help_uri})"


_PAGES = {"CP1": "cp1-provenance.md", "CP2": "cp2-privacy.md", "CP3": "cp3-supply-chain.md",
          "CP4": "cp4-robustness.md", "CP5": "cp5-redteam.md", "CP6": "cp6-governance.md",
          "CP7": "cp7-gateway.md"}

# rule id -> (short, full, help); ids that several producers share are written once here
_FIXED: dict[str, tuple[str, str, str]] = {
    "CP1-INTEGRITY": (
        "Registered data changed", "A dataset's files no longer hash to the fingerprint that "
        "was signed when it was registered.", "Restore the registered data, or register the "
        "change as a new dataset version with its own provenance."),
    "CP1-MODIFIED": (
        "File differs from its signed manifest", "A file's SHA-256 differs from the one in "
        "the DSSE-signed manifest.", "Restore the file or sign a new manifest after review."),
    "CP1-ADDED": (
        "File not in the signed manifest", "A file is present that the signed manifest does "
        "not list.", "Remove the file or sign a new manifest that includes it."),
    "CP1-MISSING": (
        "File of the signed manifest is missing", "A file listed by the signed manifest is "
        "absent.", "Restore the file or sign a new manifest without it."),
    "CP1-UNTRUSTED-SIGNATURE": (
        "Attestation not signed by a trusted key", "The attestation's signature does not "
        "verify against any key in the workspace trust store.", "Obtain the supplier's key "
        "out of band and add it with `cpmap trust add`, or reject the data."),
    "CP1-SUPPLIER-ATTESTATION": (
        "Supplier attestation does not hold", "The supplier's attestation is missing, "
        "unsigned by a trusted key, or names other digests than the data received.",
        "Ask the supplier for an attestation over the delivered files, signed by a trusted "
        "key."),
    "CP1-UNTRUSTED-SOURCE": (
        "Data from an untrusted source", "The dataset was registered from a source outside "
        "the [provenance] trusted-source allowlist.", "Fetch the data from an allowed source or "
        "extend the allowlist in cpmap.toml after review."),
    "CP2-ANONYMITY": (
        "Table below the anonymity policy", "The table's k-anonymity, l-diversity or "
        "t-closeness is below the [privacy] thresholds.", "Generalise or suppress the "
        "quasi-identifiers (`cpmap privacy anonymize`) until the policy holds."),
    "CP2-SYNTH-MEMORIZATION": (
        "Synthetic data copies real records", "Synthetic rows lie closer to real training "
        "rows than real rows lie to each other (distance to closest record).", "Regenerate "
        "with more noise or fewer epochs, and re-check the DCR ratio."),
    "CP3-DEP-VULN": (
        "Dependency with a known vulnerability", "A pinned or installed dependency matches an "
        "OSV advisory whose affected ranges include its version.", "Upgrade each affected "
        "package to a fixed version named in its result, or remove it; record an accepted "
        "risk only after review."),
    "CP3-IMG-LATEST": (
        "Container image uses a moving tag", "The image is referenced by `latest` or no tag, "
        "so a different image can be pulled at any time.", "Pin the image by digest "
        "(`image@sha256:...`)."),
    "CP3-IMG-UNPINNED": (
        "Container image not pinned by digest", "The image has a tag but no digest; tags can "
        "be moved to other content.", "Pin the image by digest (`image@sha256:...`)."),
    "CP3-IMG-NOT-ALLOWED": (
        "Container image outside the allowlist", "The image's registry or repository is not in "
        "the vetted-image allowlist.", "Use a vetted base image or add this one to the allowlist "
        "after review."),
    "CP3-IMG-DIGEST": (
        "Container image digest not vetted", "The image's digest is not one the allowlist "
        "vetted.", "Use a vetted digest or vet this one."),
    "CP3-IMG-UNRESOLVED": (
        "Container image depends on a variable", "The image reference contains a build "
        "argument or variable, so the image cannot be checked.", "Write the image reference "
        "out, pinned by digest."),
    "CP3-IMG-INVALID": (
        "Invalid container image reference", "The image reference does not parse.",
        "Correct the reference."),
    "CP3-ACCESS-DENIED": (
        "Data access outside the access policy", "A principal reached data that its role does "
        "not grant.", "Grant the access explicitly in the access policy or revoke it."),
    "CP3-ACCESS-WILDCARD": (
        "Access policy grants a wildcard", "A role is granted all datasets or all actions.",
        "Grant named datasets and actions (least privilege)."),
    "CP3-ACCESS-RAW-WRITE": (
        "Write access to raw data", "A role may write raw (registered) data, which should be "
        "immutable.", "Grant read access to raw data; write derived datasets instead."),
    "CP3-ACCESS-UNKNOWN-ROLE": (
        "Access policy names an unknown role", "A grant names a role that the policy does not "
        "define.", "Define the role or remove the grant."),
    "CP3-ACCESS-UNUSED": (
        "Unused access grant", "A role's grant was not used in the observed period.",
        "Remove grants that are not needed (least privilege)."),
    "CP4-LOW-ROBUSTNESS": (
        "Robust accuracy below the policy", "The model's worst-case accuracy under the "
        "evaluated attacks is below the [gate] CP4 threshold.", "Train adversarially "
        "(`cpmap train --adversarial pgd|trades`) and re-evaluate."),
    "CP4-DEGENERATE-MODEL": (
        "Degenerate model", "The model predicts (nearly) one class, so robustness figures mean "
        "nothing.", "Fix training before evaluating robustness."),
    "CP4-PICKLE-TRUSTED": (
        "Model loaded from a trusted pickle", "The model was loaded through pickle because a "
        "user trusted its digest; pickle can run code.", "Convert the model to safetensors or "
        "skops."),
}

_FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    # (regex on the id, short, full, help): {0} is the id's variable part
    (r"CP4-MASK-?(.*)", "Signs of gradient masking ({0})", "The attack results show a "
     "pattern of gradient masking or obfuscation, so the robustness figure may be "
     "overstated.", "Re-evaluate with stronger or gradient-free attacks (APGD, black-box) "
     "before trusting the figure."),
    (r"CP7-GATEWAY-(.+)", "Gateway check failed: {0}", "A probe of the running inference "
     "gateway did not get the hardened behaviour that CP7 requires.", "Fix the gateway "
     "configuration named in the result and re-run `cpmap gateway check`."),
    (r"CP2-PII-(.+)", "Personal data: {0}", "Text or a table column holds values recognised "
     "as {0} (pattern, checksum and context).", "Redact or pseudonymise the values "
     "(`cpmap privacy redact`) or drop the column before the data is used."),
    (r"model/(.+)", "Model file: {0}", "The model-file scanner (which never unpickles) found "
     "'{0}' in the file: see the result for the opcode position and the global involved.",
     "Do not load the file with pickle; convert it to safetensors, skops or ONNX from a "
     "trusted source, or trust its digest explicitly after review."),
    (r"cpmap\.gate\.(CP\d+)", "{0} blocks the release gate", "The release gate found {0} "
     "evidence missing or failing for this model version.", "Produce passing {0} evidence "
     "for the version or change the [gate] policy in cpmap.toml after review."),
)


def describe(rule_id: str) -> RuleText:
    """The texts of ``rule_id``; never empty."""
    page = DOCS + _PAGES.get(_control(rule_id), "architecture.md")
    if rule_id.startswith("secret/"):
        return _secret(rule_id.removeprefix("secret/"), page)
    if rule_id.startswith("CP5-"):
        found = _redteam(rule_id, page)
        if found is not None:
            return found
    if rule_id in _FIXED:
        short, full, fix = _FIXED[rule_id]
        return RuleText(short, full, fix, page)
    for pattern, short, full, fix in _FAMILIES:
        m = re.fullmatch(pattern, rule_id)
        if m:
            part = _words(m.group(1)) or "general"
            return RuleText(short.format(part), full.format(part), fix.format(part), page)
    return _generic(rule_id, page)


def _control(rule_id: str) -> str:
    if rule_id.startswith(("secret/", "model/")):
        return "CP3"
    m = re.search(r"CP\d+", rule_id)
    return m.group(0) if m else ""


def _words(part: str) -> str:
    if re.fullmatch(r"CP\d+", part):
        return part
    return part.replace("-", " ").replace("_", " ").strip().lower()


def _secret(rule: str, page: str) -> RuleText:
    from cpmap.supplychain.secrets.rules import RULES

    found = next((r for r in RULES if r.id == rule), None)
    what = found.description if found is not None else f"secret ({_words(rule)})"
    who = f" issued by {found.provider}" if found is not None and found.provider else ""
    return RuleText(f"Secret: {what}", f"A value in the shape of a {what}{who} is committed "
                    "in the scanned files (the reported value is redacted).",
                    "Revoke and rotate the credential at its issuer first, then remove it "
                    "from the files and their history; add a baseline entry only for a "
                    "verified false positive.", page + "#secrets")


def _redteam(rule_id: str, page: str) -> RuleText | None:
    from cpmap.redteam.rules import RULES

    r = RULES.get(rule_id)
    if r is None:
        return None
    return RuleText(r.title, f"{r.title}: found by the {r.attack} section of a red-team "
                    "campaign (ATLAS " + (", ".join(a.value for a in r.atlas) or "-") + ").",
                    r.remediation, page)


def _generic(rule_id: str, page: str) -> RuleText:
    from cpmap.controls import all_controls

    cp = _control(rule_id)
    title = next((c.title for c in all_controls() if c.id == cp), "cpmap")
    return RuleText(f"{cp or 'cpmap'}: {_words(rule_id.split('-', 1)[-1])}",
                    f"A {title} check ({rule_id}) did not hold; the result says where and why.",
                    f"Follow the remediation in the result and the {cp or 'cpmap'} "
                    "documentation.", page)
