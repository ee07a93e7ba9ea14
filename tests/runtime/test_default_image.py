"""Which worker image a Docker launcher uses when none is named (pure choice: a stand-in image store)."""

from __future__ import annotations

import logging

import docker.errors
import pytest

from runtime.image import IMAGE_REPO, expected_tag
from runtime.launchers.docker_launcher import default_image


class _Images:
    def __init__(self, tags: set[str]) -> None:
        self.tags = tags

    def get(self, tag: str) -> str:
        if tag not in self.tags:
            raise docker.errors.ImageNotFound(tag)
        return tag


class _Client:
    def __init__(self, *tags: str) -> None:
        self.images = _Images(set(tags))


def test_the_current_sources_image_is_used_without_a_word(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert default_image(_Client(expected_tag(), f"{IMAGE_REPO}:latest")) == expected_tag()
    assert not caplog.records


def test_falling_back_to_latest_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Another checkout's build on a shared engine may have pruned this sources' image: the workers would
    run other code than the driver, so the fallback is announced with the command that fixes it."""
    with caplog.at_level(logging.WARNING):
        assert default_image(_Client(f"{IMAGE_REPO}:latest")) == f"{IMAGE_REPO}:latest"
    (record,) = caplog.records
    assert expected_tag() in record.getMessage()
    assert "python -m runtime.image build" in record.getMessage()
