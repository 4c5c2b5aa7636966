"""Fixtures every test may use. Services the tests need are started here or in the
conftest of the directory that needs them, as real processes."""

from __future__ import annotations

import pytest

from support.library import MediaLibrary


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaLibrary:
    """Generated test media, made on first use and shared by the session."""
    return MediaLibrary(tmp_path_factory.mktemp("media"))
