"""A minimal LwM2M server on aiocoap: an independent peer for the fleet's interop test.

Usage: lwm2m_server.py PORT

Takes one registration on /rd, then reads the registered device in TLV and in SenML JSON and a
sub-device resource through its Object 25 prefix in text/plain. Every decoding here is its own
(a small TLV decoder, the json module), so it checks the fleet against code we did not share.
Prints one JSON object per line on stdout; exits non-zero on any failure.
"""
import asyncio
import json
import struct
import sys

import aiocoap
import aiocoap.resource as resource

TLV, SENML_JSON, TEXT = 11542, 110, 0


def decode_tlv(data):
    """OMA TLV (LwM2M 1.1 §7.4.3) into a list of (kind, id, value-or-children)."""
    out, i = [], 0
    while i < len(data):
        t = data[i]
        i += 1
        kind = t >> 6
        id_len = 2 if t & 0x20 else 1
        ident = int.from_bytes(data[i:i + id_len], "big")
        i += id_len
        length_type = (t >> 3) & 0x3
        if length_type == 0:
            length = t & 0x7
        else:
            length = int.from_bytes(data[i:i + length_type], "big")
            i += length_type
        value = data[i:i + length]
        if len(value) != length:
            raise ValueError("truncated TLV")
        i += length
        if kind in (0, 2):  # object instance, multiple resource: nested
            value = decode_tlv(value)
        out.append((kind, ident, value))
    return out


class Registrations(resource.Resource):
    def __init__(self, queue):
        super().__init__()
        self.queue = queue

    async def render_post(self, request):
        query = dict(item.split("=", 1) if "=" in item else (item, None) for item in request.opt.uri_query)
        self.queue.put_nowait((query, request.remote.hostinfo, request.payload.decode()))
        return aiocoap.Message(code=aiocoap.CREATED, location_path=("rd", "1"))


async def read(ctx, host, path, accept):
    request = aiocoap.Message(code=aiocoap.GET, uri=f"coap://{host}/{path}", accept=accept)
    response = await asyncio.wait_for(ctx.request(request).response, 20)
    if not response.code.is_successful():
        raise RuntimeError(f"read {path}: {response.code}")
    if response.opt.content_format != accept:
        raise RuntimeError(f"read {path}: content format {response.opt.content_format}, asked {accept}")
    return response.payload


async def main(port):
    queue = asyncio.Queue()
    site = resource.Site()
    site.add_resource(["rd"], Registrations(queue))
    ctx = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port))
    query, host, links = await asyncio.wait_for(queue.get(), 30)
    print(json.dumps({"register": query, "links": links}), flush=True)

    device = {}
    for kind, ident, value in decode_tlv(await read(ctx, host, "3/0", TLV)):
        if kind == 3:
            device[ident] = value.hex()
        elif kind == 2:
            device[ident] = [v.hex() for (_, _, v) in value]
    print(json.dumps({"tlv_3_0": {str(k): v for k, v in device.items()}}), flush=True)

    records = json.loads(await read(ctx, host, "3303/0", SENML_JSON))
    base, values = "", {}
    for record in records:
        base = record.get("bn", base)
        name = base + record.get("n", "")
        values[name] = record.get("v", record.get("vs", record.get("vb")))
    print(json.dumps({"senml_3303_0": values}), flush=True)

    text = (await read(ctx, host, "dev0/3303/0/5700", TEXT)).decode()
    print(json.dumps({"sub_device_5700": text}), flush=True)
    await ctx.shutdown()


asyncio.run(main(int(sys.argv[1])))
