"""Rules for messaging, payments, marketing, productivity and social platforms."""

from __future__ import annotations

import re

from cpmap.core.findings import Severity
from cpmap.supplychain.secrets import validators as v
from cpmap.supplychain.secrets.rule import L, R, Rule, fmt, keyed
from cpmap.supplychain.secrets.rules_code import UUID

_DIGIT = re.compile(r"\d")


def _slack(token: str) -> bool:
    # every Slack token carries a numeric id or version (xoxb-<team>-..., xoxa-2-, xoxe.xoxp-1-)
    return _DIGIT.search(token.split("-", 1)[1] if "-" in token else token) is not None


SAAS: tuple[Rule, ...] = (
    fmt("slack-token", "Slack token",
        ("xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xoxe-", "xoxe.", "xapp-"),
        r"(?<![A-Za-z0-9_\-])((?:xox[bpaorse]|xapp)-[0-9A-Za-z\-]{10,250}|"
        r"xoxe\.xox[bp]-\d-[A-Za-z0-9]{100,200})(?![A-Za-z0-9\-])", "Slack",
        min_entropy=3.0, validate=_slack),
    fmt("slack-webhook", "Slack incoming webhook", ("hooks.slack.com",),
        r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,})",
        "Slack"),
    fmt("teams-webhook", "Microsoft Teams incoming webhook",
        (".webhook.office.com", "outlook.office.com/webhook", ".logic.azure.com"),
        r"(https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[a-f0-9\-]{36}@[a-f0-9\-]{36}/"
        r"IncomingWebhook/[a-f0-9]{32}/[a-f0-9\-]{36}(?:/[A-Za-z0-9_\-]+)?|"
        r"https://outlook\.office\.com/webhook/[a-f0-9\-]{36}@[a-f0-9\-]{36}/IncomingWebhook/"
        r"[a-f0-9]{32}/[a-f0-9\-]{36}|"
        r"https://[a-z0-9\-.]+\.logic\.azure\.com(?::443)?/workflows/[a-f0-9]{32}/triggers/"
        r"manual/paths/invoke\?[^\s\"'<>]*?sig=[A-Za-z0-9_\-]{43})", "Microsoft"),
    fmt("discord-bot-token", "Discord bot token", ("discord",),
        r"(?<![A-Za-z0-9_\-.])([MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})"
        r"(?![A-Za-z0-9_\-])", "Discord", min_entropy=3.5, validate=v.discord_bot),
    fmt("discord-webhook", "Discord webhook", ("discord.com/api/webhooks",
                                              "discordapp.com/api/webhooks"),
        r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/"
        r"[A-Za-z0-9_\-]{60,68})", "Discord"),
    fmt("telegram-bot-token", "Telegram bot token", (":aa",),
        r"(?<![0-9A-Za-z:])(\d{8,10}:AA[A-Za-z0-9_\-]{33})(?![A-Za-z0-9_\-])", "Telegram",
        min_entropy=3.5),
    fmt("stripe-key", "Stripe secret or restricted key",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "sk_prod_", "rk_prod_", "whsec_"),
        r"\b((?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{24,247}|whsec_[0-9A-Za-z]{32,})\b",
        "Stripe", min_entropy=3.3),
    fmt("square-token", "Square access token or OAuth secret", ("eaaa", "sq0atp-", "sq0csp-"),
        r"(?<![A-Za-z0-9_\-])(EAAA[A-Za-z0-9_\-]{60}|sq0atp-[A-Za-z0-9_\-]{22}|"
        r"sq0csp-[A-Za-z0-9_\-]{43})(?![A-Za-z0-9_\-])", "Square", min_entropy=3.5),
    fmt("facebook-access-token", "Facebook (Meta) access token", ("eaa",),
        rf"{L}(EAA[A-Za-z0-9]{{100,}}){R}", "Facebook", min_entropy=4.0),
    keyed("facebook-app-secret", "Facebook app secret", ("facebook", "fb_app_secret",
                                                         "fb_secret", "fb_client_secret"),
          r"[a-f0-9]{32}", "Facebook"),
    fmt("twitter-bearer-token", "Twitter/X bearer token", ("a" * 22,),
        r"(?<![A-Za-z0-9%])(A{22}[A-Za-z0-9%]{80,100})(?![A-Za-z0-9%])", "Twitter/X",
        min_entropy=3.0, allow_runs=True),
    keyed("twitter-secret", "Twitter/X API key, secret or access token",
          ("twitter", "tweet", "x_api_key", "x_api_secret", "x_access_token"),
          r"\d{15,25}-[a-z0-9]{20,40}|[a-z0-9]{50}|[a-z0-9]{25}|[a-z0-9]{45}", "Twitter/X",
          min_entropy=3.5),
    keyed("linkedin-client-secret", "LinkedIn client secret", ("linkedin", "linked_in"),
          r"wpl_ap\d\.[a-z0-9]{16}\.[a-z0-9+/=]{8,40}|[a-z0-9]{16}", "LinkedIn"),
    fmt("shopify-token", "Shopify access token or secret", ("shpat_", "shpca_", "shppa_",
                                                            "shpss_"),
        rf"(?<![A-Za-z0-9_])(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{{32}}){R}", "Shopify",
        min_entropy=3.0),
    fmt("twilio-api-key", "Twilio API key", ("twilio",), rf"{L}(SK[0-9a-f]{{32}}){R}",
        "Twilio", min_entropy=3.0),
    keyed("twilio-auth-token", "Twilio auth token", ("twilio",), r"[a-f0-9]{32}", "Twilio"),
    fmt("sendgrid-api-key", "SendGrid API key", ("sg.",),
        r"(?<![A-Za-z0-9_\-.])(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?![A-Za-z0-9_\-])",
        "SendGrid", min_entropy=4.0),
    fmt("mailchimp-api-key", "Mailchimp API key", ("-us",),
        rf"{L}([0-9a-f]{{32}}-us\d{{1,2}}){R}", "Mailchimp", min_entropy=3.0),
    fmt("mailgun-api-key", "Mailgun API key", ("key-",), rf"{L}(key-[0-9a-f]{{32}}){R}",
        "Mailgun", min_entropy=3.0),
    fmt("hubspot-token", "HubSpot private app token", ("pat-na", "pat-eu", "pat-ap"),
        rf"{L}(pat-(?:na|eu|ap)\d-{UUID}){R}", "HubSpot", min_entropy=3.0),
    keyed("hubspot-api-key", "HubSpot API key (legacy)", ("hubspot", "hapikey"), UUID,
          "HubSpot"),
    fmt("notion-token", "Notion integration token", ("ntn_", "secret_"),
        r"(?<![A-Za-z0-9_])(ntn_\d{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})(?![A-Za-z0-9_])",
        "Notion", min_entropy=4.0),
    fmt("airtable-token", "Airtable personal access token", ("pat",),
        rf"{L}(pat[A-Za-z0-9]{{14}}\.[a-f0-9]{{64}}){R}", "Airtable", min_entropy=3.5),
    keyed("airtable-api-key", "Airtable API key (legacy)", ("airtable",), r"key[a-z0-9]{14}",
          "Airtable"),
    fmt("asana-token", "Asana personal access token", ("asana", "1/", "2/"),
        r"(?<![0-9A-Za-z/])([012]/\d{13,16}(?:/\d{13,16})?:[a-f0-9]{32})(?![A-Za-z0-9])",
        "Asana", min_entropy=3.0),
    keyed("asana-client-secret", "Asana client secret", ("asana",), r"[a-z0-9]{32}", "Asana",
          min_entropy=3.5),
    fmt("dropbox-token", "Dropbox access token", ("sl.",),
        r"(?<![A-Za-z0-9_\-.])(sl\.(?:u\.)?[A-Za-z0-9_\-]{130,1000})(?![A-Za-z0-9_\-])",
        "Dropbox", min_entropy=4.0),
    keyed("dropbox-long-lived-token", "Dropbox long-lived token", ("dropbox",),
          r"[a-z0-9]{11}aaaaaaaaaa[a-z0-9_=\-]{43}", "Dropbox", allow_runs=True),
    fmt("adobe-client-secret", "Adobe client secret", ("p8e-",),
        rf"{L}(p8e-[A-Za-z0-9_\-]{{32}})(?![A-Za-z0-9_\-])", "Adobe", min_entropy=3.5),
    keyed("adobe-client-id", "Adobe client id", ("adobe",), r"[a-f0-9]{32}", "Adobe",
          severity=Severity.MEDIUM),
    fmt("age-secret-key", "age secret key", ("age-secret-key-1",),
        r"(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?![A-Z0-9])", "age",
        validate=v.bech32),
    keyed("algolia-api-key", "Algolia admin API key", ("algolia",), r"[a-f0-9]{32}",
          "Algolia"),
    keyed("zendesk-token", "Zendesk API token", ("zendesk",), r"[a-z0-9]{40}", "Zendesk",
          min_entropy=3.5),
    fmt("shippo-token", "Shippo API token", ("shippo_",),
        rf"(?<![A-Za-z0-9_])(shippo_(?:live|test)_[a-f0-9]{{40}}){R}", "Shippo"),
    fmt("flutterwave-key", "Flutterwave secret key", ("flwseck",),
        rf"{L}(FLWSECK(?:_TEST)?-[a-h0-9]{{32}}-X){R}", "Flutterwave"),
    fmt("easypost-api-key", "EasyPost API key", ("ezak",), rf"{L}(EZAK[A-Za-z0-9]{{54}}){R}",
        "EasyPost", min_entropy=3.5),
    fmt("duffel-token", "Duffel API token", ("duffel_",),
        r"(?<![A-Za-z0-9_])(duffel_(?:test|live)_[A-Za-z0-9_=\-]{43})(?![A-Za-z0-9_=\-])",
        "Duffel", min_entropy=3.5),
    fmt("mapbox-secret-token", "Mapbox secret token", ("sk.eyj",),
        r"(?<![A-Za-z0-9_\-.])(sk\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,})", "Mapbox",
        min_entropy=4.0),
    fmt("frameio-token", "Frame.io API token", ("fio-u-",),
        r"(?<![A-Za-z0-9_\-])(fio-u-[A-Za-z0-9_=\-]{64})(?![A-Za-z0-9_=\-])", "Frame.io",
        min_entropy=3.5),
    fmt("brevo-api-key", "Brevo (Sendinblue) API key", ("xkeysib-",),
        rf"{L}(xkeysib-[a-f0-9]{{64}}-[A-Za-z0-9]{{16}}){R}", "Brevo", min_entropy=3.0),
    fmt("resend-api-key", "Resend API key", ("re_",),
        rf"(?<![A-Za-z0-9_])(re_[A-Za-z0-9]{{8}}_[A-Za-z0-9]{{24}}){R}", "Resend",
        min_entropy=3.5),
    fmt("braintree-token", "Braintree (PayPal) access token", ("access_token$production$",),
        r"(access_token\$production\$[a-z0-9]{16}\$[a-f0-9]{32})(?![a-f0-9])", "PayPal",
        min_entropy=3.0),
    fmt("firebase-fcm-server-key", "Firebase Cloud Messaging server key", (":apa91b",),
        rf"{L}(AAAA[A-Za-z0-9_\-]{{7}}:APA91b[A-Za-z0-9_\-]{{134}})(?![A-Za-z0-9_\-])",
        "Google", min_entropy=4.0),
    fmt("zapier-webhook", "Zapier webhook", ("hooks.zapier.com",),
        r"(https://hooks\.zapier\.com/hooks/catch/\d+/[a-z0-9]{6,})", "Zapier"),
    fmt("tailscale-key", "Tailscale API or auth key", ("tskey-",),
        r"(?<![A-Za-z0-9_\-])(tskey-(?:api|auth|client|webhook|scim)-[A-Za-z0-9]{6,20}-"
        r"[A-Za-z0-9]{20,})(?![A-Za-z0-9])", "Tailscale", min_entropy=3.5),
    keyed("intercom-token", "Intercom access token", ("intercom",), r"[a-z0-9=_\-]{60}",
          "Intercom", min_entropy=3.5),
    keyed("contentful-token", "Contentful delivery or management token", ("contentful",),
          r"[a-z0-9=_\-]{43}", "Contentful", min_entropy=3.5),
    keyed("trello-api-key", "Trello API key", ("trello",), r"[a-z0-9]{32}", "Trello",
          min_entropy=3.5),
    keyed("postmark-token", "Postmark server token", ("postmark",), UUID, "Postmark"),
    keyed("mailjet-key", "Mailjet API key or secret", ("mailjet",), r"[a-z0-9]{32}",
          "Mailjet", min_entropy=3.5),
    keyed("etsy-api-key", "Etsy API key", ("etsy",), r"[a-z0-9]{24}", "Etsy"),
    keyed("auth0-client-secret", "Auth0 client secret", ("auth0",), r"[a-z0-9_\-]{64}",
          "Auth0", min_entropy=3.5),
    keyed("ngrok-authtoken", "ngrok authtoken", ("ngrok",), r"\d[a-z0-9]{26}_[a-z0-9]{21}",
          "ngrok", min_entropy=3.5),
)
