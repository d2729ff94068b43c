"""An LwM2M 1.1 server stub on aiocoap: an independent peer for the composite, Send and Block1
Register interop test.

Usage: lwm2m11_server.py PORT

1. Takes one Register on /rd. The device has many sub-devices, so the link list is over 1 KB
   and comes with Block1: aiocoap reassembles it (its own RFC 7959 code) before the resource
   sees it.
2. Read-Composite: FETCH / with a SenML JSON path list (built here with json), Accept SenML
   CBOR; decodes the answer with cbor2 (or, without it, this project's Python CBOR subset in
   lwm2m_server.py, still not the fleet's Rust code).
3. Send: waits for a POST /dp from the device, answers 2.04, decodes its SenML CBOR the same way.
Prints one JSON object per line on stdout; exits non-zero on any failure.
"""
import asyncio
import json
import os
import sys

import aiocoap
import aiocoap.resource as resource

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lwm2m_server import decode_cbor as fallback_cbor  # noqa: E402

try:
    import cbor2

    def decode_cbor(data):
        return cbor2.loads(data)

    DECODER = "cbor2"
except ImportError:  # pragma: no cover - depends on the machine
    decode_cbor = fallback_cbor
    DECODER = "lwm2m_server.decode_cbor"

SENML_JSON, SENML_CBOR = 110, 112


def senml_values(records):
    """SenML CBOR records (labels -2 bn, 0 n, 2 v, 3 vs, 4 vb) to {full name: value}."""
    base, values = "", {}
    for record in records:
        base = record.get(-2, base)
        name = base + record.get(0, "")
        values[name] = record.get(2, record.get(3, record.get(4)))
    return values


class Registrations(resource.Resource):
    def __init__(self, queue):
        super().__init__()
        self.queue = queue

    async def render_post(self, request):
        query = dict(item.split("=", 1) if "=" in item else (item, None) for item in request.opt.uri_query)
        self.queue.put_nowait((query, request.remote.hostinfo, request.payload.decode()))
        return aiocoap.Message(code=aiocoap.CREATED, location_path=("rd", "1"))


class DataPush(resource.Resource):
    def __init__(self, queue):
        super().__init__()
        self.queue = queue

    async def render_post(self, request):
        self.queue.put_nowait((request.opt.content_format, request.payload))
        return aiocoap.Message(code=aiocoap.CHANGED)


async def main(port):
    registrations, sends = asyncio.Queue(), asyncio.Queue()
    site = resource.Site()
    site.add_resource(["rd"], Registrations(registrations))
    site.add_resource(["dp"], DataPush(sends))
    ctx = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port))
    query, host, links = await asyncio.wait_for(registrations.get(), 30)
    print(json.dumps({"register": query, "links_len": len(links), "links": links}), flush=True)

    paths = ["/3/0/0", "/3303/0/5700", "/dev0/3304/0", "/dev149/3/0/17", "/3/77"]
    request = aiocoap.Message(
        code=aiocoap.FETCH,
        uri=f"coap://{host}/",
        content_format=SENML_JSON,
        accept=SENML_CBOR,
        payload=json.dumps([{"n": p} for p in paths]).encode(),
    )
    response = await asyncio.wait_for(ctx.request(request).response, 20)
    if response.code != aiocoap.CONTENT:
        raise RuntimeError(f"read-composite: {response.code}")
    print(json.dumps({
        "read_composite": senml_values(decode_cbor(response.payload)),
        "content_format": int(response.opt.content_format),
        "decoder": DECODER,
    }), flush=True)

    for _ in range(2):
        content_format, payload = await asyncio.wait_for(sends.get(), 30)
        print(json.dumps({
            "send": senml_values(decode_cbor(payload)),
            "content_format": int(content_format),
        }), flush=True)
    await ctx.shutdown()


asyncio.run(main(int(sys.argv[1])))
