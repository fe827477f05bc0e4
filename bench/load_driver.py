"""A simulator process for load and soak runs.

    python bench/load_driver.py PORT API_KEY RATE SECONDS KEYS DISCONNECT_EVERY

Emits RATE setData events per second for SECONDS over KEYS keys (values 0..100, so rules on
thresholds fire now and then), and every DISCONNECT_EVERY seconds (0: never) disconnects all
clients server-side. Prints "ready", then "sent N" at the end.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from pxrules.testing.simulator import Simulator


async def main(port: int, key: str, rate: float, seconds: float, keys: int, every: float) -> None:
    rng = random.Random(5)
    async with Simulator(api_key=key, port=port) as sim:
        print("ready", flush=True)
        while sim.clients < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)
        start = time.perf_counter()
        sent = 0
        next_disconnect = every
        batch = max(1, int(rate / 100))  # emit in small batches, 100 times a second
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                for _ in range(min(batch, due - sent)):
                    value = f"{rng.uniform(0, 100):.2f}"
                    await sim.emit_raw(
                        "setData",
                        {"key": f"k/{rng.randrange(keys)}", "value": value, "t": repr(time.time())},
                    )
                    sent += 1
            if every and elapsed >= next_disconnect:
                await sim.disconnect_all()
                next_disconnect += every
            await asyncio.sleep(0.01)
        print(f"sent {sent}", flush=True)
        await asyncio.sleep(3600)


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(int(a[0]), a[1], float(a[2]), float(a[3]), int(a[4]), float(a[5])))
