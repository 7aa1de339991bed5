"""When turns go to extraction: browser policy and the stateless proxy rule."""

from __future__ import annotations

import pytest

from autoskill_site.exceptions import InvalidInput
from extraction.models import ExtractionJob
from extraction.triggers import (
    proxy_extraction_submit,
    proxy_window,
    should_extract_turn,
)


@pytest.mark.parametrize(
    ("mode", "limit", "since", "expected"),
    [
        ("never", 1, 5, False),
        ("always", 9, 1, True),
        ("auto", 3, 2, False),
        ("auto", 3, 3, True),
    ],
)
def test_browser_policy(mode, limit, since, expected):
    assert (
        should_extract_turn(mode=mode, turn_limit=limit, turns_since_extraction=since)
        is expected
    )


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(InvalidInput, match="extract_mode"):
        should_extract_turn(mode="sometimes", turn_limit=1, turns_since_extraction=1)


def test_disabled_extraction_never_triggers(settings):
    settings.AUTOSKILL_EXTRACT_ENABLED = False
    assert not should_extract_turn(
        mode="always", turn_limit=1, turns_since_extraction=1
    )


def test_proxy_window_needs_an_earlier_assistant_turn():
    first = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "hi"},
    ]
    assert proxy_window(first) is None
    follow_up = [
        *first,
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "always answer in French"},
    ]
    assert proxy_window(follow_up) == follow_up


@pytest.mark.django_db
def test_a_resent_window_is_not_extracted_twice(user):
    messages = [
        {"role": "user", "content": "write the notes"},
        {"role": "assistant", "content": "Here they are"},
        {"role": "user", "content": "no emojis in release notes, ever"},
    ]
    job, created = proxy_extraction_submit(user=user, messages=messages)
    again, created_again = proxy_extraction_submit(user=user, messages=list(messages))
    assert created and not created_again and again.pk == job.pk
    assert ExtractionJob.objects.count() == 1
