from tests.extraction.llm_fixtures import llm  # noqa: F401 - fixture for this package
