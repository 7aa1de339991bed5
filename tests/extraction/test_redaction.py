"""Secret redaction: every known format goes, ordinary text stays, twice equals once."""

from __future__ import annotations

import copy
import io
import logging
import logging.config
import random
import string
from collections import namedtuple
from collections.abc import Iterator

import pytest

from extraction.redaction import (
    PLACEHOLDER_RE,
    RedactingFilter,
    contains_secret,
    redact_text,
    redact_value,
)
from tests.extraction.secret_samples import (
    SECRET_NEEDLES,
    SECRET_SAMPLES,
    assert_no_secrets,
)

PROSE = {
    "en": ("Here is what I ran: ", " -- please fix the connection error."),
    "zh": ("这是我的配置：", "，请帮我修复连接错误。"),
    "zh_tight": ("我的配置是", "。谢谢！"),
}
PLACEHOLDERS = (
    "<SECRET:openai_key>",
    "<SECRET:value>",
    "<SECRET:high_entropy>",
    "<EMAIL>",
    "<CREDENTIALS>",
    "<JWT>",
    "<PRIVATE_KEY>",
    "<BEARER_TOKEN>",
)


@pytest.mark.parametrize("language", PROSE)
@pytest.mark.parametrize("name", SECRET_SAMPLES)
def test_every_sample_is_redacted_inside_prose(name: str, language: str) -> None:
    """The secret goes, a typed placeholder takes its place, the prose around it stays."""
    before, after = PROSE[language]
    text = f"{before}{SECRET_SAMPLES[name]}{after}"

    redacted = redact_text(text)

    assert_no_secrets(redacted)
    assert PLACEHOLDER_RE.search(redacted)
    assert redacted.startswith(before)
    assert redacted.endswith(after)
    assert contains_secret(text) is True
    assert contains_secret(redacted) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sk-FAKEu8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dT3BlbkFJ", "<SECRET:openai_key>"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key <SECRET:aws_access_key_id> here"),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_SECRET_ACCESS_KEY=<SECRET:aws_secret_key>",
        ),
        (
            "postgres://app:p@ss0rd@db.example.com:5432/x",
            "postgres://<CREDENTIALS>@db.example.com:5432/x",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://<CREDENTIALS>@cache:6379/0"),
        (
            "curl -H 'Authorization: Bearer abc123def456ghi789'",
            "curl -H 'Authorization: Bearer <BEARER_TOKEN>'",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "Authorization: Basic <CREDENTIALS>",
        ),
        (
            "https://s3.example.com/b/k?X-Amz-Date=20240101&X-Amz-Signature=ab12cd34",
            "https://s3.example.com/b/k?X-Amz-Date=20240101&X-Amz-Signature=<SECRET:value>",
        ),
        (
            "https://x.example.com/?apiKey=Q1w2E3r4&page=2",
            "https://x.example.com/?apiKey=<SECRET:value>&page=2",
        ),
        ("password=hunter2.", "password=<SECRET:value>."),
        (
            '{"password": "hunter2", "user": "bob"}',
            '{"password": "<SECRET:value>", "user": "bob"}',
        ),
        ("DB_PASS=letmein", "DB_PASS=<SECRET:value>"),
        ('password = "$ecretPass1"', 'password = "<SECRET:value>"'),
        (
            "SECRET_KEY = 'django-insecure-7#x!q@fake^k2'",
            "SECRET_KEY = '<SECRET:value>'",
        ),
        (
            "secretAccessKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "secretAccessKey: <SECRET:aws_secret_key>",
        ),
        ("mysqldump --password s3cr3t db", "mysqldump --password <SECRET:value> db"),
        ("X-Api-Key: 9f8e7d6c5b4aZZ", "X-Api-Key: <SECRET:value>"),
        ("密码是abc12345，别告诉别人", "密码是<SECRET:value>，别告诉别人"),
        ("mail bob.smith@example.co.uk.", "mail <EMAIL>."),
        ("我的邮箱是bob@163.com，谢谢", "我的邮箱是<EMAIL>，谢谢"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
            "-----END OPENSSH PRIVATE KEY-----\nnext line",
            "<PRIVATE_KEY>\nnext line",
        ),
        (
            "truncated: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFAKE",
            "truncated: <PRIVATE_KEY>",
        ),
    ],
)
def test_typed_placeholders(text: str, expected: str) -> None:
    """Labels, schemes and hosts stay as context; only the secret part is replaced."""
    assert redact_text(text) == expected


INNOCENT = [
    "In 2024 we shipped 3 releases; the 1999 build had 12345 users and cost 4096 USD.",
    "The meeting is at 10:30 in room 4512, see ticket #8841.",
    "550e8400-e29b-41d4-a716-446655440000",
    "/home/alice/projects/autoskill/extraction/redaction.py",
    r"C:\Users\alice\AppData\Local\Programs\Python\Python311\python.exe",
    "def test_redaction_handles_nested_structures_2024(self) -> None:",
    "AbstractSingletonProxyFactoryBean2Impl.getInstance()",
    "K8sHorizontalPodAutoscalerV2Beta2Controller",
    "ERR_CONNECTION_REFUSED_BY_UPSTREAM_SERVER_502",
    "data_2024_01_15_part_00001_of_00099_snappy.parquet",
    "~/.cache/huggingface/hub/models--sentence-transformers--all-MiniLM-L6-v2",
    "https://docs.djangoproject.com/en/5.2/topics/logging/#configuring-logging",
    "https://github.com/openai/openai-python/commit/3f786850e387550fdab836ed7e6dc881de23001b",
    "https://example.com/search?q=python+regex&page=2&sort=desc",
    "https://alice@example.com/path and ssh://git@github.com/org/repo",
    "git clone git@github.com:org/repo.git",
    "<img src='icon@2x.png'> npm install lodash@4.17.21 @types/node@20.11.5",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Django 5.2.19, numpy 2.4.6, Python 3.11.7, release v1.2.3-rc.1",
    "color: #ff00aa; background: #1e1e1e; border: 1px solid #333;",
    "这是一个普通的中文句子，没有任何秘密。我们在2024年发布了第3版，密码是什么？",
    "client.chat.completions.create(model='gpt-4o', max_tokens=1024, temperature=0)",
    "token_count = len(tokens); secrets_manager = boto3.client('secretsmanager')",
    "login(username=user, password=password)",
    'api_key = os.environ["OPENAI_API_KEY"]',
    "secret = settings.SECRET_KEY; api_key=OPENAI_API_KEY; token = get_token()",
    "def authenticate(token: str, api_key: str | None = None) -> bool:",
    "password: Optional[str] = None",
    "The token: a short word. Use Bearer authentication with bearer tokens.",
    "Pass --token flag to the CLI.",
    "Set OPENAI_API_KEY=$OPENAI_API_KEY and PASSWORD=${DB_PASSWORD} in .env",
    'api_key: YOUR_API_KEY, password: "********"',
    "pip install scikit-learn && python -c 'import sklearn'  # sk-learn",
    "password_hash = make_password(raw)",
    "2024-01-15T10:30:00Z 192.168.1.20:8080 x86_64-unknown-linux-gnu",
    "<SECRET:openai_key> <EMAIL> postgres://<CREDENTIALS>@db/x",
]


@pytest.mark.parametrize("text", INNOCENT)
def test_innocent_text_is_left_alone(text: str) -> None:
    """Numbers, ids, paths, code, ordinary URLs and Chinese prose are context, not secrets."""
    assert redact_text(text) == text
    assert contains_secret(text) is False


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
@pytest.mark.parametrize(
    "context",
    [
        "{}",
        "password={}",
        "token: {}",
        "Bearer {}",
        "https://{}@host.example.com/x",
        "{}@example.com",
        "https://e.example.com/?token={}",
        "密码：{}",
        "--secret {}",
        '"api_key": "{}"',
    ],
)
def test_placeholders_never_rematch(placeholder: str, context: str) -> None:
    """A placeholder in any labelled position is already redacted text."""
    text = context.format(placeholder)
    assert redact_text(text) == text


def test_redacting_twice_equals_once() -> None:
    """Idempotence over a long mixed text in two languages."""
    text = "\n".join(
        f"{before}{value}{after}"
        for value in SECRET_SAMPLES.values()
        for before, after in PROSE.values()
    )
    once = redact_text(text)
    assert redact_text(once) == once
    assert_no_secrets(once)


Pair = namedtuple("Pair", "label value")


def test_redact_value_walks_nested_structures_and_returns_new_objects() -> None:
    """Every string at any depth is redacted; keys, numbers and container types stay."""
    payload = {
        "messages": [
            {"role": "user", "content": f"use {value} please"}
            for value in SECRET_SAMPLES.values()
        ],
        "meta": ("tuple", SECRET_SAMPLES["jwt"], 2024),
        "pair": Pair("key", SECRET_SAMPLES["openai"]),
        "deep": {"deeper": [[SECRET_SAMPLES["private_key"]], {"n": 1.5}]},
        "flags": [True, None, 7],
    }
    original = copy.deepcopy(payload)

    redacted = redact_value(payload)

    assert_no_secrets(redacted)
    assert payload == original
    assert redacted is not payload and redacted["messages"] is not payload["messages"]
    assert list(redacted) == list(payload)
    assert redacted["meta"] == ("tuple", "<JWT>", 2024)
    assert redacted["pair"] == Pair("key", "<SECRET:openai_key>")
    assert isinstance(redacted["pair"], Pair)
    assert redacted["deep"]["deeper"][1] == {"n": 1.5}
    assert redacted["flags"] == [True, None, 7]
    assert redacted["messages"][0]["role"] == "user"


def test_assert_no_secrets_names_the_leaked_sample() -> None:
    """The helper other tests rely on fails, and says which sample leaked and where."""
    with pytest.raises(AssertionError, match="'slack'.*content"):
        assert_no_secrets({"content": [f"x {SECRET_SAMPLES['slack']}"]})
    escaped = {"body": '{"a": "' + SECRET_NEEDLES["private_key"][0] + '\\n"}'}
    with pytest.raises(AssertionError, match="private_key"):
        assert_no_secrets(escaped)


@pytest.fixture
def log_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A parent logger whose only handler redacts and writes into a StringIO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_log_output_never_contains_secrets(log_stream) -> None:
    """Args, dict args, child loggers, tracebacks and broken formats are all redacted."""
    logger, stream = log_stream
    samples = list(SECRET_SAMPLES.values())
    logger.info("calling upstream with %s and %r", samples[0], samples[1:])
    logger.warning(
        "%(who)s sent %(what)s", {"who": "alice", "what": SECRET_SAMPLES["email"]}
    )
    logging.getLogger("tests.redaction.child").error(
        "child: %s", SECRET_SAMPLES["bearer"]
    )
    logger.info("broken format %d", SECRET_SAMPLES["github_classic"])
    try:
        raise RuntimeError(f"upstream refused {SECRET_SAMPLES['stripe']}")
    except RuntimeError:
        logger.exception("job failed for %s", SECRET_SAMPLES["url_credentials"])

    output = stream.getvalue()
    assert_no_secrets(output)
    assert "calling upstream with <SECRET:openai_key>" in output
    assert "alice sent <EMAIL>" in output
    assert "tests.redaction.child child: Authorization: Bearer <BEARER_TOKEN>" in output
    assert "<SECRET:github_token>" in output
    assert "RuntimeError: upstream refused <SECRET:stripe_key>" in output


def test_filter_installs_through_dict_config() -> None:
    """The LOGGING snippet in the README resolves to a working RedactingFilter."""
    config = {
        "version": 1,
        "filters": {"redact": {"()": "extraction.redaction.RedactingFilter"}},
    }
    configurator = logging.config.DictConfigurator(config)
    built = configurator.configure_filter(config["filters"]["redact"])
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "key %s", (SECRET_SAMPLES["google"],), None
    )
    assert isinstance(built, RedactingFilter)
    assert built.filter(record) is True
    assert record.getMessage() == "key <SECRET:google_api_key>"


ALPHABETS = {
    "base62": string.ascii_letters + string.digits,
    "base64url": string.ascii_letters + string.digits + "-_",
    "lower_base36": string.ascii_lowercase + string.digits,
    "upper_base36": string.ascii_uppercase + string.digits,
}


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_unlabelled_random_tokens_are_caught(alphabet: str) -> None:
    """>= 95% of random 32-char tokens (with a digit and a letter) are redacted."""
    rng = random.Random(20241125)
    tokens = []
    while len(tokens) < 500:
        token = "".join(rng.choice(ALPHABETS[alphabet]) for _ in range(32))
        hexish = set(token) <= set(string.hexdigits + "-_")
        if (
            any(c.isdigit() for c in token)
            and any(c.isalpha() for c in token)
            and not hexish
        ):
            tokens.append(token)
    caught = sum(
        redact_text(f"id {t} end") == "id <SECRET:high_entropy> end" for t in tokens
    )
    assert caught / len(tokens) >= 0.95


ADVERSARIAL = {
    "letters": "a" * 1_000_000,
    "jwt_prefixes": "eyJ-" * 250_000,
    "jwt_segments": "eyJa." * 200_000,
    "openai_prefixes": "sk-" * 333_333,
    "pem_begins": "-----BEGIN RSA PRIVATE KEY-----\n" * 31_250,
    "pem_no_end": "-----BEGIN RSA PRIVATE KEY-----" + "-" * 1_000_000,
    "at_signs": "a@" * 500_000,
    "schemes": "x://u:" * 166_666,
    "assignments": 'password="' * 100_000,
    "colons": "secret: " * 125_000,
    "bearers": "Bearer " * 142_857,
    "query": "?token=" * 142_857,
    "zh_labels": "密码：" * 333_333,
    "hex": "0123456789abcdef" * 62_500,
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_megabyte_adversarial_inputs_complete(name: str) -> None:
    """Linear-time patterns: 1 MB of near-misses is processed, and stays idempotent."""
    once = redact_text(ADVERSARIAL[name])
    assert isinstance(once, str)
    assert redact_text(once) == once


def test_megabyte_of_noise_becomes_one_placeholder() -> None:
    """A 1 MB random base64url run is one secret, not a million fragments."""
    rng = random.Random(7)
    noise = "".join(rng.choice(ALPHABETS["base64url"]) for _ in range(1_000_000))
    assert redact_text(f"blob {noise} end") == "blob <SECRET:high_entropy> end"
