"""Generate a rules file with N rules (a realistic mix) for check and engine benchmarks.

python bench/gen_rules.py 1000 > /tmp/rules-1000.yaml
"""

from __future__ import annotations

import sys


def generate(n: int) -> str:
    lines = [
        "notifiers:",
        "  hook: {webhook: {url: 'http://127.0.0.1:9/hook', secret: s3cret}}",
        "  phone: {apprise: 'json://127.0.0.1:9/notify'}",
        "defaults: {notify: [hook, phone], cooldown: 10m, resolve: true}",
        "rules:",
    ]
    for i in range(n):
        kind = i % 5
        lines.append(f"  - name: rule-{i}")
        if kind == 0:
            lines += [f"    key: sensor-{i}", "    when: {above: 70}", "    clear: {below: 65}"]
        elif kind == 1:
            lines += [f"    key: sensor-{i}", "    when: {below: 5}", "    for: 2m"]
        elif kind == 2:
            lines += [f"    keys: ['zone-{i}/*']", "    when: {above: 30}", "    debounce: 5s"]
        elif kind == 3:
            lines += [f"    key: door-{i}", "    when: {changed: true}"]
        else:
            lines += [f"    key: sensor-{i}", "    when: {stale: 10m}"]
        lines.append("    title: '{{ rule }}: {{ key }} = {{ value }}'")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
