"""Replace secrets in text before any model sees it and before anything is stored.

`redact_text` runs a fixed sequence of passes, most specific first, so a provider key
is named (`<SECRET:openai_key>`) rather than swallowed by a generic rule later on:

1. PEM private-key blocks, multi-line (and truncated ones: a half key is still a key)
2. `user:pass@` in URLs of any scheme (scheme and host stay: they are context)
3. JWTs (`eyJ…` header, three dot-separated base64url segments)
4. provider keys by prefix (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe,
   Hugging Face, GitLab, npm), and labelled AWS secret access keys
5. `Bearer <token>` anywhere, `Authorization: Basic <credentials>`
6. URL query parameters whose name ends in token/key/secret/signature/sig/password
7. labelled assignments (`password=`, `"api_key": "…"`, `--token …`, `密码：…`):
   the value goes, the key stays
8. e-mail addresses
9. long random-looking tokens (see `_looks_random`)

Every placeholder is made of characters the passes refuse to start on (`<`) or too
short to match, so redacting twice gives the same text as redacting once.

Every pattern starts only at the beginning of a character run (a lookbehind on the
run's own class) and consumes the run greedily, so each input character is scanned a
bounded number of times: no pattern can backtrack catastrophically.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "PLACEHOLDER_RE",
    "PRE_REDACTED",
    "RedactingFilter",
    "contains_secret",
    "redact_text",
    "redact_value",
]

PLACEHOLDER_RE = re.compile(
    r"<(?:SECRET:[a-z_]+|EMAIL|CREDENTIALS|JWT|PRIVATE_KEY|BEARER_TOKEN)>"
)

_Replacer = Callable[[re.Match[str]], str]
_A = re.ASCII
_AI = re.ASCII | re.IGNORECASE
# A base64url run; patterns start only where such a run starts.
_RUN_START = r"(?<![A-Za-z0-9_\-])"

# 1. PEM. The body cannot contain "-----", so it stops at the END line (or the next
# BEGIN when END is missing); possessive loops keep no backtracking state on 1 MB.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[^-]++|-(?!----))*+"
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    _A,
)

# 2. The password may hold a raw "@" (people do write p@ss); greedy matching stops at
# the last "@" before the path, which is where the host begins.
# Userinfo is printable ASCII only, so "host:8080是服务器…admin@" is not taken for it.
_URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]{0,31}://)"
    r"[!$%&(-.0-9;=A-Z\[-_a-z{-~]*:[!$%&(-.0-9:;=@A-Z\[-_a-z{-~]+@",
    _A,
)

_JWT = re.compile(
    _RUN_START + r"eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*", _A
)

# 4. (name, pattern). Bodies consume the whole base64url run so a key never half-leaks.
_PROVIDER_KEYS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, _A))
    for name, pattern in (
        ("anthropic_key", _RUN_START + r"sk-ant-[A-Za-z0-9_\-]{20,}"),
        ("openai_key", _RUN_START + r"sk-(?P<tail>[A-Za-z0-9_\-]{20,})"),
        (
            "aws_access_key_id",
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        ),
        ("github_token", _RUN_START + r"(?:gh[pousr]_|github_pat_)[A-Za-z0-9_\-]{30,}"),
        ("slack_token", _RUN_START + r"(?:xox[abposr]|xapp)-[A-Za-z0-9\-]{10,}"),
        ("google_api_key", _RUN_START + r"AIza[A-Za-z0-9_\-]{30,}"),
        (
            "stripe_key",
            _RUN_START + r"(?:(?:sk|rk)_(?:live|test)|whsec)_[A-Za-z0-9]{16,}",
        ),
        ("huggingface_token", _RUN_START + r"hf_[A-Za-z0-9]{30,}"),
        ("gitlab_token", _RUN_START + r"glpat-[A-Za-z0-9_\-]{20,}"),
        ("npm_token", _RUN_START + r"npm_[A-Za-z0-9]{30,}"),
    )
)
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9_])(?P<head>(?:aws_?secret_?(?:access_?)?|secret_?access_?)key[\"']?[ \t]*(?:=>|[:=])[ \t]*[\"']?)"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
    _AI,
)

_BEARER = re.compile(
    r"(?<![A-Za-z0-9_])(?P<head>bearer[ \t]+)(?P<token>[A-Za-z0-9\-._~+/]{8,}=*)", _AI
)
_BASIC = re.compile(
    r"(?P<head>authorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+)[A-Za-z0-9+/]{4,}={0,2}",
    _AI,
)

_QUERY_PARAM = re.compile(
    r"(?<=[?&;])(?P<name>[A-Za-z0-9_.\-]{1,64})=(?P<value>[!$%*+\-./0-9:=?@A-Z_a-z~]+)",
    _A,
)
_SECRET_PARAM_NAME = re.compile(
    r"(?:token|key|secret|signature|sig|password|passwd|pwd|credential)s?$", _A
)

# 7. Keys end in a secret word; "max_tokens" or "token_count" do not.
_KEY_WORDS = (
    r"(?:[A-Za-z0-9_.\-]*?(?:pass(?:word|wd|phrase)|secret|token"
    r"|(?:api|secret|private|access|signing|encryption|master|auth|client)[_.\-]?key)"
    r"|[A-Za-z0-9_.\-]*?[_.\-](?:pass|pwd))(?![A-Za-z0-9_.\-])"
)
_VALUE = (
    r"(?:\"(?P<dq>[^\"\n]{0,1024})\"|'(?P<sq>[^'\n]{0,1024})'"
    r"|(?P<uv>[!#-&*+\-./0-9?@A-Z\\^_a-z|~][!#-&*+\-./0-9:=?@A-Z\\^_a-z|~]*+))"
    r"(?P<after>[(\[]?)"
)
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.\-<])(?P<key>[\"']?" + _KEY_WORDS + r"[\"']?)"
    r"(?P<sep>[ \t]*(?:=>|[:=])[ \t]*)" + _VALUE,
    _AI,
)
_CLI_FLAG = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<key>--?[A-Za-z0-9\-]*?(?:password|passwd|token|secret|api-?key))"
    r"(?P<sep>[ \t]+)" + _VALUE,
    _AI,
)
_ZH_ASSIGNMENT = re.compile(
    r"(?P<key>密码|口令|密钥|秘钥|私钥|令牌)(?P<sep>\s*(?:[:：=]|是|为)\s*)" + _VALUE
)
_KEEP_WORDS = frozenset(
    "none null nil true false undefined str string int bytes bool any optional "
    "secretstr object text number required unknown".split()
)
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", _A)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*", _A)
_NAME_PIECE = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])", _A)
# $DB_PASSWORD, ${X}, %X%, {{ x }}, os.environ[...]: where the secret lives, not the
# secret. A lone "$" is an unquoted ${X} cut at its brace.
_REFERENCE = re.compile(
    r"\$|\$[A-Z_][A-Z0-9_]*|\$\{[^}]*\}|%[A-Za-z_]\w*%|\{\{.*\}\}|(?:os\.environ|process\.env).*",
    _A,
)
_MASKED = re.compile(r"[*xX.\-_]*|\.\.\.|your[_\-].*|<[^>]*>", _AI)
_TRAILING_PUNCT = re.compile(r"[.,:]+$")

# 8. The domain is validated in code: one greedy run, no nested quantifiers.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])(?<!//)[A-Za-z0-9._%+\-]{1,64}@(?P<domain>[A-Za-z0-9.\-]{1,255})"
    r"(?P<scp>:[A-Za-z0-9_.~\-]+/)?",
    _A,
)
_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})", _A
)
# "icon@2x.png" and "pkg@dist.js" are file names, not addresses.
_FILE_TLDS = frozenset(
    "png jpg jpeg gif svg webp ico bmp js mjs ts tsx jsx css scss py md json yaml yml "
    "txt lock toml cfg ini html htm xml map wasm".split()
)

# 9. Candidate runs; `_looks_random` decides.
_LONG_RUN = re.compile(_RUN_START + r"[A-Za-z0-9_\-]{32,}", _A)
_HEXISH = re.compile(r"[0-9a-fA-F_\-]+", _A)
_WORD_PIECE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", _A)
_VOWEL = re.compile(r"[aeiouyAEIOUY]", _A)
_LETTER_DIGIT = re.compile(r"(?=[A-Za-z][0-9]|[0-9][A-Za-z])", _A)
_DIGIT = re.compile(r"[0-9]", _A)
_LETTER = re.compile(r"[A-Za-z]", _A)


def _looks_random(token: str) -> bool:
    """True for a run that reads as generated noise rather than a name someone typed.

    Pure hex (with `-`/`_`) is never redacted here: that is git SHAs, UUIDs and digests,
    which are ids worth keeping; a hex secret is still caught when it is labelled. A
    token must mix letters and digits. Mixed-case noise is caught because few of its
    letters sit in pronounceable word pieces ("Abstract", "Factory"); single-case noise
    (base36) because letters and digits alternate far more often than in identifiers.
    """
    if not (_DIGIT.search(token) and _LETTER.search(token)) or _HEXISH.fullmatch(token):
        return False
    letters = sum(ch.isalpha() for ch in token)
    wordy = sum(
        len(piece)
        for piece in _WORD_PIECE.findall(token)
        if len(piece) >= 4 and _VOWEL.search(piece)
    )
    if wordy / letters < 0.5:
        return True
    return len(_LETTER_DIGIT.findall(token)) / len(token) >= 0.2


def _secretish(value: str) -> bool:
    """Weak evidence ("Token: next", "--token flag") needs a value that is not a word."""
    return (
        len(value) >= 16
        or bool(_DIGIT.search(value))
        or not value.isalnum()
        or (value.lower() != value and value.upper() != value)
    )


def _keep_value(*, key: str, value: str, quoted: bool, after: str, weak: bool) -> bool:
    """True when the "value" is code, a reference or a mask, not a literal secret."""
    if _MASKED.fullmatch(value) or PLACEHOLDER_RE.search(value):
        return True
    if _REFERENCE.fullmatch(value):
        return True
    if quoted:
        return False
    if after or value.lower() in _KEEP_WORDS or _DOTTED_NAME.fullmatch(value):
        return True
    # `password=password`, `api_key=OPENAI_API_KEY`: a variable holding the secret.
    bare_key = key.strip("\"'-").lower()
    word = re.split(r"[_.\-]", bare_key)[-1]
    if _IDENTIFIER.fullmatch(value) and (
        value.lower() == bare_key
        or word in (piece.lower() for piece in _NAME_PIECE.findall(value))
    ):
        return True
    return weak and not _secretish(value)


def _assignment_replacer(*, weak_separators: tuple[str, ...]) -> _Replacer:
    def replace(match: re.Match[str]) -> str:
        sep = match["sep"]
        quoted = match["uv"] is None
        value = match["dq"] if match["dq"] is not None else match["sq"]
        suffix = ""
        if not quoted:
            value = match["uv"]
            # "password=hunter2." ends a sentence; keep the full stop.
            punct = _TRAILING_PUNCT.search(value)
            if punct and punct.start() > 0:
                value, suffix = value[: punct.start()], punct.group()
        assert value is not None
        weak = sep.strip() in weak_separators
        if not value or _keep_value(
            key=match["key"],
            value=value,
            quoted=quoted,
            after=match["after"],
            weak=weak,
        ):
            return match.group()
        quote = "" if not quoted else ('"' if match["dq"] is not None else "'")
        return (
            f"{match['key']}{sep}{quote}<SECRET:value>{quote}{suffix}{match['after']}"
        )

    return replace


def _typed(name: str) -> _Replacer:
    return lambda match: f"<SECRET:{name}>"


def _openai(match: re.Match[str]) -> str:
    # "sk-learn-…" style words are lowercase; real keys carry digits or capitals.
    tail = match["tail"]
    if _DIGIT.search(tail) or tail.lower() != tail:
        return "<SECRET:openai_key>"
    return match.group()


def _url_credentials(match: re.Match[str]) -> str:
    return f"{match['scheme']}<CREDENTIALS>@"


def _bearer(match: re.Match[str]) -> str:
    # "Bearer authentication" in prose is a word, not a token.
    if not _secretish(match["token"]):
        return match.group()
    return f"{match['head']}<BEARER_TOKEN>"


def _query_param(match: re.Match[str]) -> str:
    # "X-Amz-Signature", "access_token", "apiKey": compare letters only.
    if not _SECRET_PARAM_NAME.search(re.sub(r"[^a-z]", "", match["name"].lower())):
        return match.group()
    return f"{match['name']}=<SECRET:value>"


def _email(match: re.Match[str]) -> str:
    domain = match["domain"].rstrip(".-")
    valid = _DOMAIN.fullmatch(domain)
    if match["scp"] or not valid or valid["tld"].lower() in _FILE_TLDS:
        return match.group()
    # Trailing dots belong to the sentence, not the address.
    return "<EMAIL>" + match["domain"][len(domain) :]


def _long_run(match: re.Match[str]) -> str:
    return "<SECRET:high_entropy>" if _looks_random(match.group()) else match.group()


_PASSES: tuple[tuple[re.Pattern[str], _Replacer | str], ...] = (
    (_PRIVATE_KEY, "<PRIVATE_KEY>"),
    (_URL_CREDENTIALS, _url_credentials),
    (_JWT, "<JWT>"),
    *(
        (pattern, _openai if name == "openai_key" else _typed(name))
        for name, pattern in _PROVIDER_KEYS
    ),
    (_AWS_SECRET, lambda m: f"{m['head']}<SECRET:aws_secret_key>"),
    (_BEARER, _bearer),
    (_BASIC, lambda m: f"{m['head']}<CREDENTIALS>"),
    (_QUERY_PARAM, _query_param),
    (_ASSIGNMENT, _assignment_replacer(weak_separators=(":",))),
    (_CLI_FLAG, _assignment_replacer(weak_separators=("",))),
    (_ZH_ASSIGNMENT, _assignment_replacer(weak_separators=())),
    (_EMAIL, _email),
    (_LONG_RUN, _long_run),
)


def redact_text(text: str) -> str:
    """Return `text` with every recognised secret replaced by a typed placeholder."""
    if not text:
        return text
    for pattern, replacement in _PASSES:
        text = pattern.sub(replacement, text)
    return text


def contains_secret(text: str) -> bool:
    """True when `redact_text` would change `text` (placeholders alone do not count)."""
    return redact_text(text) != text


def redact_value(value: Any) -> Any:
    """Redact every string inside dicts, lists and tuples; keys and non-strings stay.

    Returns new containers, so a caller's payload is never modified in place.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, tuple):
        items = [redact_value(item) for item in value]
        # Named tuples take positional fields, plain tuples an iterable.
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


# A record attribute: the emitter already redacted every free-text part of the
# message (the request log does, once per request on the hot path).
PRE_REDACTED = "autoskill_pre_redacted"


class RedactingFilter(logging.Filter):
    """Redact the rendered message, traceback and stack of every record it sees.

    Install it on handlers, not loggers: a logger's filters never see records that
    propagate up from child loggers, a handler's filters see everything it emits.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, PRE_REDACTED, False) and not record.exc_info:
            return True
        try:
            message = record.getMessage()
        except Exception:
            # logging's own error path would print the raw args; render them redacted.
            message = f"{record.msg} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
