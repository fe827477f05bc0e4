"""A minimal Socket.IO (Engine.IO 4, websocket only) server that streams pre-encoded setData
frames as fast as the socket takes them, so ingest benchmarks measure the client, not
python-socketio's server (which tops out near 20k emits/s here).

    python bench/fast_server.py PORT API_KEY N

Serves one client at a time: handshake, namespace connect with auth check, then N frames.
Prints "ready" when listening.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from aiohttp import web

OPEN = "0" + json.dumps(
    {"sid": "bench", "upgrades": [], "pingInterval": 300000, "pingTimeout": 300000,
     "maxPayload": 1000000}
)  # fmt: skip


def frames(n: int) -> list[str]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        payload = {"key": f"k/{rng.randrange(1000)}", "value": f"{rng.uniform(0, 100):.2f}",
                   "lastUpdate": "2025-01-01T00:00:00.000Z", "icon": None, "seq": i}  # fmt: skip
        out.append("42" + json.dumps(["setData", payload], separators=(",", ":")))
    return out


def app(key: str, n: int) -> web.Application:
    prepared = frames(n)

    async def socket_io(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await ws.send_str(OPEN)
        message = await ws.receive()
        text = message.data if isinstance(message.data, str) else ""
        auth = json.loads(text[2:] or "{}") if text.startswith("40") else {}
        if auth.get("apiKey") != key:
            await ws.send_str('44{"message":"Invalid API key."}')
            await ws.close()
            return ws
        await ws.send_str('40{"sid":"bench-ns"}')
        for start in range(0, len(prepared), 256):
            for frame in prepared[start : start + 256]:
                await ws.send_str(frame)
        async for _ in ws:  # keep the connection until the client leaves
            pass
        return ws

    application = web.Application()
    application.router.add_get("/socket.io/", socket_io)
    return application


async def main(port: int, key: str, n: int) -> None:
    runner = web.AppRunner(app(key, n), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
