"""Page images rendered in sandbox workers (``ingest/render.py``) and kept in a bounded cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from archive_search.errors import NotFoundError
from ingest.render import PageRenderer
from tests.conftest import SAMPLE_DIR

PDF = SAMPLE_DIR / "udhr-en-articles.pdf"


@pytest.fixture
def renderer() -> Iterator[PageRenderer]:
    r = PageRenderer(timeout_s=60, memory_mb=1024, workers=1, cache_mb=1)
    yield r
    r.close()


def _png(r: PageRenderer, page: int = 1, dpi: int = 40, words: tuple[str, ...] = ()) -> bytes:
    return r.render(
        PDF, "application/pdf", page, dpi=dpi, max_pixels=10**8, what="the sample", mask_words=words
    )


def test_a_page_seen_again_comes_from_the_cache(renderer: PageRenderer) -> None:
    first = _png(renderer)
    assert first.startswith(b"\x89PNG") and renderer.renders == 1
    assert _png(renderer) == first and renderer.renders == 1  # from the cache
    # another resolution, page or mask is another image: rendered, not served from the cache
    assert _png(renderer, dpi=50) != first and renderer.renders == 2
    assert _png(renderer, page=2) != first and renderer.renders == 3
    masked = _png(renderer, words=("Article",))
    assert masked != first and renderer.renders == 4
    assert _png(renderer) == first and renderer.renders == 4  # the unmasked one is still there


def test_the_cache_is_bounded_and_failures_are_not_kept(renderer: PageRenderer) -> None:
    sizes = [len(_png(renderer, dpi=dpi)) for dpi in range(100, 310, 25)]  # 80-270 KB each
    assert sum(sizes) > renderer.cache_bytes  # more than the cache holds (1 MiB)
    assert renderer._cached <= renderer.cache_bytes
    kept = {key[3] for key in renderer._cache}
    assert 300 in kept and 100 not in kept  # the least recently used went first
    _png(renderer, dpi=100)
    assert renderer.renders == len(sizes) + 1  # rendered again
    with pytest.raises(NotFoundError):
        _png(renderer, page=999)
    with pytest.raises(NotFoundError):
        _png(renderer, page=999)
    assert all(key[2] != 999 for key in renderer._cache)


def test_no_cache_when_it_is_off() -> None:
    r = PageRenderer(timeout_s=60, memory_mb=1024, workers=1, cache_mb=0)
    try:
        _png(r)
        _png(r)
        assert r.renders == 2
    finally:
        r.close()
