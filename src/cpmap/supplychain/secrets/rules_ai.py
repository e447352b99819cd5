"""Rules for AI model providers and ML platforms (what an ML project is most likely to leak)."""

from __future__ import annotations

from cpmap.core.findings import Severity
from cpmap.supplychain.secrets.rule import L, R, Rule, fmt, keyed, rx
from cpmap.supplychain.secrets.rules_code import UUID

AI: tuple[Rule, ...] = (
    # Anthropic keys: a 93-character body that always ends in "AA"
    fmt("anthropic-api-key", "Anthropic API key", ("sk-ant-",),
        r"(?<![A-Za-z0-9_\-])(sk-ant-(?:api|admin|sid)\d\d-[A-Za-z0-9_\-]{93}AA)"
        r"(?![A-Za-z0-9_\-])", "Anthropic", severity=Severity.CRITICAL, min_entropy=4.0),
    fmt("openai-api-key", "OpenAI API key", ("sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"),
        r"\b(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ"
        r"[A-Za-z0-9]{20}))(?![A-Za-z0-9_\-])", "OpenAI", severity=Severity.CRITICAL,
        min_entropy=4.0),
    fmt("openrouter-api-key", "OpenRouter API key", ("sk-or-v1-",),
        rf"{L}(sk-or-v1-[a-f0-9]{{64}}){R}", "OpenRouter", min_entropy=3.0),
    fmt("huggingface-token", "Hugging Face token", ("hf_", "api_org_"),
        r"\b((?:hf_|api_org_)[A-Za-z]{34})\b", "Hugging Face", min_entropy=3.5),
    Rule("wandb-netrc", "Weights & Biases API key (.netrc)", ("api.wandb.ai",),
         rx(r"machine\s+api\.wandb\.ai\s+(?:login\s+\S+\s+)?password\s+([a-f0-9]{40})\b"),
         min_entropy=3.2, provider="Weights & Biases"),
    Rule("wandb-api-key", "Weights & Biases API key", ("wandb",),
         rx(r"(?i)wandb[\w.\-]*[\"']?\s*(?:[:=]|\s)\s*[\"']?(?:login\s+\S+\s+)?(?:password\s+)?"
            r"([a-f0-9]{40}|(?:local-)?[a-f0-9]{40}|wandb_v1_[A-Za-z0-9_]{40,})\b"),
         min_entropy=3.2, provider="Weights & Biases"),
    keyed("cohere-api-key", "Cohere API key", ("cohere", "co_api_key"), r"[a-z0-9]{40}",
          "Cohere", min_entropy=3.5),
    keyed("mistral-api-key", "Mistral API key", ("mistral",), r"[a-z0-9]{32}", "Mistral",
          min_entropy=3.5),
    fmt("replicate-api-token", "Replicate API token", ("r8_",),
        rf"(?<![A-Za-z0-9_])(r8_[A-Za-z0-9]{{37}}){R}", "Replicate", min_entropy=3.5),
    fmt("groq-api-key", "Groq API key", ("gsk_",),
        rf"(?<![A-Za-z0-9_])(gsk_[A-Za-z0-9]{{52}}){R}", "Groq", min_entropy=4.0),
    fmt("perplexity-api-key", "Perplexity API key", ("pplx-",),
        rf"{L}(pplx-[A-Za-z0-9]{{48}}){R}", "Perplexity", min_entropy=4.0),
    fmt("xai-api-key", "xAI API key", ("xai-",), rf"{L}(xai-[A-Za-z0-9]{{80}}){R}", "xAI",
        min_entropy=4.0),
    fmt("langsmith-api-key", "LangSmith API key", ("lsv2_pt_", "lsv2_sk_"),
        rf"(?<![A-Za-z0-9_])(lsv2_(?:pt|sk)_[a-f0-9]{{32}}_[a-f0-9]{{10}}){R}", "LangSmith",
        min_entropy=3.0),
    fmt("nvidia-api-key", "NVIDIA API key", ("nvapi-",),
        r"(?<![A-Za-z0-9_\-])(nvapi-[A-Za-z0-9_\-]{64})(?![A-Za-z0-9_\-])", "NVIDIA",
        min_entropy=4.0),
    fmt("pinecone-api-key", "Pinecone API key", ("pcsk_",),
        rf"(?<![A-Za-z0-9_])(pcsk_[A-Za-z0-9]{{5,6}}_[A-Za-z0-9]{{60,70}}){R}", "Pinecone",
        min_entropy=4.0),
    keyed("pinecone-legacy-api-key", "Pinecone API key (legacy)", ("pinecone",), UUID,
          "Pinecone"),
    keyed("together-api-key", "Together AI API key", ("together",), r"[a-f0-9]{64}",
          "Together AI"),
    keyed("elevenlabs-api-key", "ElevenLabs API key", ("elevenlabs", "xi_api_key",
                                                      "xi-api-key"),
          r"(?:sk_)?[a-f0-9]{32,48}", "ElevenLabs"),
)
