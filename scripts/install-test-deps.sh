#!/usr/bin/env bash
# Installs the independent peers the interop tests talk to:
#   - libcoap's coap-client (Debian package libcoap3-bin)
#   - aiocoap (PyPI), for a minimal LwM2M server written in the tests
#   - cbor2 (PyPI), an independent CBOR decoder for the SenML CBOR of Send and Read-Composite
# Idempotent: skips what is already there.
set -euo pipefail

AIOCOAP_VERSION="0.4.17"
CBOR2_VERSION="6.3.0"
PROMETHEUS_CLIENT_VERSION="0.26.0"
SELENIUM_VERSION="4.43.0"

have_coap_client() {
    command -v coap-client-notls >/dev/null 2>&1 || command -v coap-client >/dev/null 2>&1
}

if ! have_coap_client; then
    echo "installing libcoap3-bin (coap-client)..."
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq libcoap3-bin >/dev/null
fi

if ! python3 -c "import aiocoap" >/dev/null 2>&1; then
    echo "installing aiocoap ${AIOCOAP_VERSION}..."
    python3 -m pip install --quiet --disable-pip-version-check "aiocoap==${AIOCOAP_VERSION}"
fi

if ! python3 -c "import cbor2" >/dev/null 2>&1; then
    echo "installing cbor2 ${CBOR2_VERSION}..."
    python3 -m pip install --quiet --disable-pip-version-check "cbor2==${CBOR2_VERSION}"
fi

# The live-view test: Python's prometheus_client text parser, and headless Chromium
# (Debian's chromium + chromium-driver) driven through Selenium.
if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
    echo "installing prometheus_client ${PROMETHEUS_CLIENT_VERSION}..."
    python3 -m pip install --quiet --disable-pip-version-check "prometheus-client==${PROMETHEUS_CLIENT_VERSION}"
fi
if ! python3 -c "import selenium" >/dev/null 2>&1; then
    echo "installing selenium ${SELENIUM_VERSION}..."
    python3 -m pip install --quiet --disable-pip-version-check "selenium==${SELENIUM_VERSION}"
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver..."
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
        echo "!!!!! WARNING: chromium could not be installed: the browser part of the live test will be SKIPPED !!!!!" >&2
    fi
fi

coap_client=$(command -v coap-client-notls || command -v coap-client)
echo "test peers: ${coap_client}, aiocoap $(python3 -c 'import aiocoap.meta as m; print(m.version)')"
