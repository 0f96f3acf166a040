#!/usr/bin/env bash
# Make sure what the tests start privately is installed: Mosquitto, InfluxDB 1.x and Chromium (Debian packages),
# and the CJK font the placard and report tests render Chinese with (fonts-wqy-zenhei).
#
# Idempotent and silent when both are present. Installs only what is missing, as root, without starting the
# system services: the tests run their own instances on free ports (tests/services.py), and a system
# broker or database listening on 1883/8086 is neither needed nor wanted.
set -euo pipefail

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
have mosquitto || missing+=(mosquitto)
have influxd || missing+=(influxdb)
# Headless Chromium for the web UI's browser tests (driven by Playwright with the system executable).
have chromium || missing+=(chromium)
# PostgreSQL: the hazard store's option for many gateways is tested against a real server too.
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
# A CJK font for the Chinese text of PNG placards (Pillow) and embedded in PDF reports (reportlab).
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
# The openssl tool: tests/test_mqtt_tls.py makes a CA and the TLS broker's certificate with it.
have openssl || missing+=(openssl)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-services: missing Debian packages: ${missing[*]}" >&2
    echo "ensure-services: run as root: sudo bash scripts/ensure-services.sh" >&2
    echo "ensure-services:          or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: apt-get not found; install ${missing[*]} (Mosquitto 2.x, InfluxDB 1.x) by hand" >&2
    exit 1
fi

echo "ensure-services: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

# policy-rc.d exit code 101 tells invoke-rc.d not to start services during installation.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# On machines with systemd, the packages may still enable their units for the next boot: turn that off.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for unit in "${missing[@]}"; do
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
fi

have mosquitto && have influxd || { echo "ensure-services: installation did not provide mosquitto and influxd" >&2; exit 1; }
echo "ensure-services: installed ${missing[*]}" >&2
