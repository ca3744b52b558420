"""The listeners' exact-path routing (``webhook.routing``): what aiohttp's URL
dispatcher did for us, done on the low-level server."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tests.support import builders
from webhook.ops import routing


async def echo(request: web.BaseRequest) -> web.Response:
    return web.Response(body=await request.read())


async def hello(_: web.BaseRequest) -> web.Response:
    return web.Response(text="hello")


@pytest.fixture
async def client(routes_client):
    routes = routing.Routes(body_limit=1024)
    routes.add("POST", "/echo", echo)
    routes.add("GET", "/hello", hello)
    return await routes_client(routes)


async def test_a_route_answers_with_its_handler(client):
    response = await client.post("/echo", data=b"abc")
    assert (response.status, await response.read()) == (200, b"abc")


async def test_an_unknown_path_is_404(client):
    assert (await client.post("/echo/", data=b"")).status == 404
    assert (await client.get("/nope")).status == 404


async def test_a_known_path_with_another_method_is_405_naming_the_allowed_ones(client):
    response = await client.get("/echo")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert (await client.post("/hello")).headers["Allow"] == "GET, HEAD"


async def test_head_is_served_wherever_get_is_without_a_body(client):
    response = await client.head("/hello")
    assert response.status == 200
    assert await response.read() == b""


async def test_a_query_string_does_not_change_the_route(client):
    assert (await client.get("/hello?x=1")).status == 200


async def test_a_body_over_the_limit_is_413(client):
    assert (await client.post("/echo", data=builders.oversized(1024))).status == 413
    assert (await client.post("/echo", data=b"x" * 1024)).status == 200


async def raw_exchange(client, head: bytes, body: bytes) -> tuple[bytes, bytes]:
    """What the server says after the request head, then after the body."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head)
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(body)
        await writer.drain()
        final = await asyncio.wait_for(reader.readuntil(b"abc"), 5) if body else b""
        return interim, final
    finally:
        writer.close()


async def test_expect_100_continue_is_answered_before_the_body_is_sent(client):
    head = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Expect: 100-continue\r\n\r\n")
    interim, final = await raw_exchange(client, head, b"abc")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_an_unknown_expectation_is_417(client):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: magic\r\n\r\n"
    interim, _ = await raw_exchange(client, head, b"")
    assert interim.startswith(b"HTTP/1.1 417 ")
