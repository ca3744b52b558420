"""The cache of rendered answers: keyed by name and version, bounded by bytes."""

from __future__ import annotations

import orjson

from tests.support import builders
from webhook.core import model, rendered, storage


def record(name="a", version="1", tag="v1"):
    obj = builders.doc_appimage()
    obj["metadata"]["name"] = name
    obj["spec"]["image"]["tag"] = tag
    return storage.Record(name=name, obj=obj, version=version)


def text(fragment):
    return orjson.loads(orjson.dumps([fragment]))[0]


def test_an_answer_is_the_rest_rendering():
    r = record()
    assert text(rendered.Cache().answer(r)) == model.to_rest(r.obj)


def test_a_new_version_is_rendered_anew():
    cache = rendered.Cache()
    cache.answer(record(version="1", tag="v1"))
    assert text(cache.answer(record(version="2", tag="v2")))["image"]["tag"] == "v2"


def test_the_same_version_is_served_from_the_cache():
    cache = rendered.Cache()
    first = record(version="7", tag="v1")
    cache.answer(first)
    first.obj["spec"]["image"]["tag"] = "changed-behind-its-back"
    assert text(cache.answer(first))["image"]["tag"] == "v1"
    assert len(cache) == 1


def test_the_cache_stays_under_its_byte_bound():
    one = len(orjson.dumps(model.to_rest(record().obj)))
    cache = rendered.Cache(max_bytes=3 * one + one // 2)
    for i in range(10):
        cache.answer(record(name=f"app-{i}", version=str(i)))
    assert len(cache) == 3
    assert cache.size <= cache.max_bytes


def test_an_answer_larger_than_the_bound_is_not_kept():
    cache = rendered.Cache(max_bytes=100)
    assert text(cache.answer(record()))["name"] == "a"
    assert len(cache) == 0
