"""Connectivity check for the WebSocket stack (routing, auth, channel layer)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class PingConsumer(AsyncJsonWebsocketConsumer):
    """Answer every message with a pong so deployments can check WebSocket routing."""

    async def connect(self) -> None:
        await self.accept()
        await self.send_json(
            {"type": "hello", "authenticated": self.scope["user"].is_authenticated}
        )

    async def receive_json(self, content: dict, **kwargs) -> None:
        await self.send_json({"type": "pong", "echo": content})
