from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from autoskill_site.asgi import application


@pytest.mark.django_db(transaction=True)
async def test_websocket_routing_through_the_full_asgi_stack():
    """asgi.py routes /ws/ping/ through origin validation and auth to the consumer."""
    communicator = WebsocketCommunicator(
        application, "/ws/ping/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {
        "type": "hello",
        "authenticated": False,
    }
    await communicator.send_json_to({"n": 1})
    assert await communicator.receive_json_from() == {"type": "pong", "echo": {"n": 1}}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_foreign_origin_is_rejected():
    communicator = WebsocketCommunicator(
        application, "/ws/ping/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
