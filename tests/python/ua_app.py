"""A WSGI app classifying the User-Agent header with dfabake, for a prefork
server (gunicorn --preload): the rules are loaded once, in the master, at
import; every forked worker answers from the same pages.

    DFABAKE_UA_MODULE=out/matcher.wasm gunicorn --preload -w 4 ua_app:app
"""

import json
import os

import dfabake

MATCHER = dfabake.Matcher.open(os.environ["DFABAKE_UA_MODULE"])
LOADED_IN = os.getpid()


def app(environ, start_response):
    if environ["PATH_INFO"] == "/healthz":
        body = json.dumps({"pid": os.getpid(), "loaded_in": LOADED_IN, "rules": len(MATCHER)})
    else:
        # WSGI hands headers over as latin-1 str: encode back to the bytes
        # the client sent, and match those (offsets in bytes).
        ua = environ.get("HTTP_USER_AGENT", "").encode("latin-1")
        f = MATCHER.first(ua)
        answer = None if f is None else {
            "id": f.id, "start": f.start, "end": f.end, "payload": f.payload,
            "captures": [list(c) if c else None for c in f.captures],
        }
        body = json.dumps({"pid": os.getpid(), "loaded_in": LOADED_IN, "first": answer})
    data = body.encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
