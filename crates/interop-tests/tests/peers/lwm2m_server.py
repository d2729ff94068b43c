"""A minimal LwM2M server on aiocoap: an independent peer for the fleet's interop test.

Usage: lwm2m_server.py PORT

Takes one registration on /rd, then reads the registered device in TLV, SenML JSON and SenML
CBOR, a sub-device resource through its Object 25 prefix in text/plain, discovers an object,
and observes the device clock for two notifications. Every decoding here is its own (a small
TLV decoder, a small CBOR decoder, the json module), so it checks the fleet against code we did
not share. Prints one JSON object per line on stdout; exits non-zero on any failure.
"""
import asyncio
import json
import struct
import sys

import aiocoap
import aiocoap.resource as resource

TLV, SENML_JSON, SENML_CBOR, TEXT, LINK = 11542, 110, 112, 0, 40


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


def decode_cbor(data):
    """RFC 8949 subset used by SenML CBOR: ints, strings, arrays, maps, floats, bools."""

    def item(i):
        head = data[i]
        major, info = head >> 5, head & 0x1F
        i += 1
        if major == 7:
            if info == 20:
                return False, i
            if info == 21:
                return True, i
            if info == 25:
                return struct.unpack(">e", data[i:i + 2])[0], i + 2
            if info == 26:
                return struct.unpack(">f", data[i:i + 4])[0], i + 4
            if info == 27:
                return struct.unpack(">d", data[i:i + 8])[0], i + 8
            raise ValueError(f"unsupported simple value {info}")
        if info < 24:
            arg = info
        elif info in (24, 25, 26, 27):
            size = 1 << (info - 24)
            arg = int.from_bytes(data[i:i + size], "big")
            i += size
        else:
            raise ValueError(f"unsupported additional info {info}")
        if major == 0:
            return arg, i
        if major == 1:
            return -1 - arg, i
        if major in (2, 3):
            chunk = data[i:i + arg]
            return (chunk if major == 2 else chunk.decode()), i + arg
        if major == 4:
            out = []
            for _ in range(arg):
                value, i = item(i)
                out.append(value)
            return out, i
        if major == 5:
            out = {}
            for _ in range(arg):
                key, i = item(i)
                value, i = item(i)
                out[key] = value
            return out, i
        raise ValueError(f"unsupported major type {major}")

    value, end = item(0)
    if end != len(data):
        raise ValueError("trailing bytes after CBOR item")
    return value


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

    # SenML CBOR labels (RFC 8428 §6): -2 bn, 0 n, 2 v, 3 vs, 4 vb.
    records = decode_cbor(await read(ctx, host, "dev0/3304/0", SENML_CBOR))
    base, values = "", {}
    for record in records:
        base = record.get(-2, base)
        name = base + record.get(0, "")
        values[name] = record.get(2, record.get(3, record.get(4)))
    print(json.dumps({"senml_cbor_dev0_3304_0": values}), flush=True)

    links = (await read(ctx, host, "3303", LINK)).decode()
    print(json.dumps({"discover_3303": links}), flush=True)

    request = aiocoap.Message(code=aiocoap.GET, uri=f"coap://{host}/3/0/13", observe=0, accept=TEXT)
    pending = ctx.request(request)
    first = await asyncio.wait_for(pending.response, 20)
    times = [int(first.payload.decode())]
    async for notification in pending.observation:
        times.append(int(notification.payload.decode()))
        if len(times) == 3:
            pending.observation.cancel()
            break
    print(json.dumps({"observe_3_0_13": times}), flush=True)
    await ctx.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
