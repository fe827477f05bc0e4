"""A simulator process that waits for CLIENTS connections, then emits N stamped events.

    python bench/sim_driver.py PORT API_KEY N RATE CLIENTS [PREFIX]

Each event is setData {key: PREFIX<i>, value: "<time.time() at emit>"}; RATE 0 means as fast as
possible. Prints "ready" when listening and "done <seconds>" when all events are out.
"""

from __future__ import annotations

import asyncio
import sys
import time

from pxrules.testing.simulator import Simulator


async def main(port: int, key: str, n: int, rate: float, clients: int, prefix: str) -> None:
    async with Simulator(api_key=key, port=port) as sim:
        print("ready", flush=True)
        while sim.clients < clients:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # let the clients finish their snapshots
        start = time.perf_counter()
        for i in range(n):
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sim.emit_raw("setData", {"key": f"{prefix}{i}", "value": repr(time.time())})
        print(f"done {time.perf_counter() - start:.3f}", flush=True)
        await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            int(args[0]),
            args[1],
            int(args[2]),
            float(args[3]),
            int(args[4]),
            args[5] if len(args) > 5 else "k/",
        )
    )
