"""The tokeniser is shared by documents and queries, so its behaviour is the
contract that BM25 matching depends on."""

from __future__ import annotations

from retrieval.text import (
    SkillText,
    embedding_text,
    keyword_tokens,
    normalise,
    tokenize,
)


def _skill(**overrides: object) -> SkillText:
    fields: dict[str, object] = {
        "title": "Convert PDF files",
        "name": "convert-pdf-files",
        "description": "Turn scanned PDFs into editable text",
        "triggers": ("convert my pdf", "把PDF转换成文字"),
        "tags": ("pdf", "ocr"),
        "instructions": "You are an OCR assistant. " * 200,
    }
    fields.update(overrides)
    return SkillText(**fields)  # type: ignore[arg-type]


def test_normalise_folds_width_case_and_spacing() -> None:
    # Given full-width letters, mixed case and ragged whitespace
    text = "  Ｈｅｌｌｏ\t\nWORLD  "
    # When normalised
    # Then they compare equal to the plain ASCII spelling
    assert normalise(text) == "hello world"


def test_tokenize_english_drops_stopwords_and_folds_inflections() -> None:
    # Given a query with stopwords and plural/-ing forms
    tokens = tokenize("Converting the images to PDF files")
    # Then function words are gone and inflections meet their base form
    assert tokens == ["convert", "image", "pdf", "file"]
    assert tokenize("convert image pdf file") == tokens


def test_tokenize_chinese_uses_word_segmentation() -> None:
    # Given a Chinese phrase
    tokens = tokenize("帮我把这段话降重")
    # Then it is cut into words, and particles/pronouns are dropped
    assert "降重" in tokens
    assert "我" not in tokens and "把" not in tokens


def test_tokenize_mixed_scripts_and_identifiers() -> None:
    # Given mixed Chinese, an identifier with a hyphen and digits
    tokens = tokenize("scRNA-seq数据加载 2024年 snake_case")
    # Then the identifier parts, the Chinese words and the digits all survive
    assert {"scrna", "seq", "数据", "加载", "2024", "snake", "case"} <= set(tokens)


def test_tokenize_other_scripts_keep_words() -> None:
    # Given Cyrillic, accented Latin and Korean
    tokens = tokenize("Привет café 서울")
    # Then each word is one token, case-folded
    assert tokens == ["привет", "café", "서울"]


def test_tokenize_empty_and_punctuation_only() -> None:
    # Given text with no letters or digits
    # Then there are no tokens (and no crash)
    assert tokenize("") == []
    assert tokenize(" ,.!? —— 。") == []


def test_query_and_document_tokenise_identically() -> None:
    # Given the same phrase as a trigger and as a query
    doc = keyword_tokens(_skill(triggers=("批量重命名文件",), instructions=""))
    # Then every query token is present in the document tokens
    assert set(tokenize("批量重命名文件")) <= set(doc)


def test_keyword_tokens_weights_triggers_above_instructions() -> None:
    # Given a term that appears once in the triggers and once in the body
    doc = _skill(
        triggers=("zebra",), instructions="giraffe", tags=(), title="", description=""
    )
    tokens = keyword_tokens(doc)
    # Then the trigger term is counted more often than the body term
    assert tokens.count("zebra") > tokens.count("giraffe") >= 1


def test_embedding_text_is_short_and_excludes_instructions() -> None:
    # Given a skill with a very long instructions body
    text = embedding_text(_skill())
    # Then the passage holds the topical fields but not the body, and stays short
    assert "Convert PDF files" in text and "把PDF转换成文字" in text
    assert "OCR assistant" not in text
    assert len(text) <= 600


def test_embedding_text_falls_back_to_name_without_title() -> None:
    # Given a skill without a title
    text = embedding_text(_skill(title=""))
    # Then the name stands in for it
    assert text.startswith("convert-pdf-files")
