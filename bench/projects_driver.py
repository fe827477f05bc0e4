"""A simulator process serving PROJECTS API keys (p0 … pN-1) that waits for one client per
key, then, for SECONDS seconds, sets RATE new stamped keys per second in every project.

    python bench/projects_driver.py PORT PROJECTS SECONDS RATE [wait]

With ``wait`` it starts only once a line comes on stdin (a fleet has spread the projects).

Each event is setData {key: "k/<n>", value: "<time.time() at emit>"} in one project; the
projects take turns, spread evenly over each second. Prints "ready" when listening and
"done <events>" when all are out.
"""

from __future__ import annotations

import asyncio
import sys
import time

from pxrules.testing.simulator import Simulator


async def main(port: int, projects: int, seconds: float, rate: float, wait: bool) -> None:
    keys = [f"p{i}" for i in range(projects)]
    async with Simulator(api_key=keys[0], api_keys=keys[1:], port=port) as sim:
        print("ready", flush=True)
        while sim.clients < projects:
            await asyncio.sleep(0.05)
        if wait:  # a fleet: until the projects are spread (a line on stdin)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await asyncio.sleep(1.0)  # let the clients finish their snapshots
        total = int(seconds * rate * projects)
        start = time.perf_counter()
        for n in range(total):
            delay = start + n / (rate * projects) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            project = sim.project(keys[n % projects])
            await project.emit_raw("setData", {"key": f"k/{n}", "value": repr(time.time())})
        print(f"done {total}", flush=True)
        await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    port, projects, seconds, rate = sys.argv[1:5]
    asyncio.run(main(int(port), int(projects), float(seconds), float(rate), "wait" in sys.argv[5:]))
