//! Interop tests live in `tests/`: the fleet against libcoap's `coap-client` and against a
//! minimal LwM2M server written on aiocoap. Run `scripts/install-test-deps.sh` first.
