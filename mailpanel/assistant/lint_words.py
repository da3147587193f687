"""Word lists the deliverability lint matches against (lowercase, matched on word bounds).

Collected from the filter rules and sender guides that mailbox providers and spam
filters publish; kept short on purpose: a long list flags honest copy.
"""

from __future__ import annotations

SPAM_PHRASES = (
    "100% free", "100% guaranteed", "100% satisfied", "act now", "all natural",
    "apply now", "as seen on", "be your own boss", "best price", "buy direct",
    "call now", "cash bonus", "click below", "click here", "congratulations",
    "dear friend", "double your", "earn extra cash", "earn money", "eliminate debt",
    "extra income", "fast cash", "free access", "free gift", "free money",
    "get paid", "guaranteed", "incredible deal", "limited time offer", "lowest price",
    "make money", "million dollars", "miracle", "no catch", "no cost",
    "no credit check", "no fees", "no obligation", "no strings attached",
    "once in a lifetime", "order now", "risk-free", "risk free",
    "satisfaction guaranteed", "special promotion", "this is not spam",
    "this isn't spam", "what are you waiting for", "while supplies last", "winner",
    "work from home", "you have been selected", "you're a winner", "cash prize",
    "unsecured credit", "lose weight", "casino", "viagra",
)  # fmt: skip

# Account and password scares are how phishing reads: filters and people treat them so.
PHISHING_PHRASES = (
    "verify your account", "confirm your password", "confirm your identity",
    "your account has been suspended", "your account will be suspended",
    "your account will be closed", "account suspended", "unusual sign-in activity",
    "unusual login", "update your payment details", "update your billing information",
    "your password expires", "reset your password immediately", "login immediately",
    "log in immediately", "security alert",
)  # fmt: skip

# Upper-case words that are names, not shouting.
ACRONYMS = frozenset(
    {
        "API", "ASAP", "B2B", "B2C", "CEO", "CFO", "CSS", "CTO", "DIY", "DKIM", "DMARC",
        "EU", "EUR", "FAQ", "GBP", "GDPR", "HTML", "HTTP", "HTTPS", "IMAP", "IOS", "ISO",
        "LLC", "LTD", "NASA", "NYC", "PDF", "PIN", "POP", "RSVP", "SEO", "SMS",
        "SMTP", "SPF", "SSL", "TLS", "UK", "URL", "USA", "USD", "VAT", "VIP", "VPN",
        "GMBH", "INC", "CO2", "AI", "GPU", "CPU", "RAM", "SSD", "TV", "PS",
    }
)  # fmt: skip

URL_SHORTENERS = frozenset(
    {
        "bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
        "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "t.ly",
    }
)  # fmt: skip

# "Unsubscribe" in the languages the assistant writes, plus the usual placeholders.
UNSUBSCRIBE_WORDS = (
    "unsubscribe", "opt out", "opt-out", "abmelden", "abbestellen", "désabonner",
    "désinscrire", "se désinscrire", "darse de baja", "darte de baja", "cancelar suscripción",
    "disiscriviti", "annulla iscrizione", "afmelden", "uitschrijven", "wypisz",
    "cancelar inscrição", "descadastrar", "avregistrera", "avsluta prenumeration",
    "配信停止", "{{unsubscribe", "{{ unsubscribe",
)  # fmt: skip
