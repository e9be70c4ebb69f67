#!/usr/bin/env python3
"""uap-core's regexes.yaml -> dfabake JSON Lines, one file a section and one
for the whole ordered list (ids 1..N in file order; the payload names the
section and carries the replacement fields a parser fills captures into).

    uap-to-jsonl.py REGEXES.yaml OUT_DIR
writes OUT_DIR/uap.jsonl, uap-browser.jsonl, uap-os.jsonl, uap-device.jsonl.
"""
import json
import sys

import yaml

src, out = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(src, encoding="utf-8"))
sections = [("browser", "user_agent_parsers"), ("os", "os_parsers"), ("device", "device_parsers")]
whole = open(f"{out}/uap.jsonl", "w", encoding="utf-8")
n = 0
for name, key in sections:
    with open(f"{out}/uap-{name}.jsonl", "w", encoding="utf-8") as part:
        for i, r in enumerate(doc[key]):
            n += 1
            payload = {k: v for k, v in r.items() if k not in ("regex", "regex_flag")}
            payload["section"] = name
            rule = {"id": f"{name}-{i + 1}", "pattern": r["regex"], "payload": payload}
            if r.get("regex_flag"):
                rule["flags"] = r["regex_flag"]
            line = json.dumps(rule, ensure_ascii=False) + "\n"
            part.write(line)
            whole.write(line)
whole.close()
