#!/usr/bin/env bash
# Installs kubectl (its embedded kustomize renders deploy/k8s in tests/deploy/test_k8s.py) when it is missing and
# this is root on a machine with apt: the `kubectl` package where the machine's apt sources carry it, else
# Debian's `kubernetes-client`. Never fails the build: without a kubectl whose kustomize is v5 or newer
# (Debian bookworm's kubernetes-client has v2) those tests skip and say why.
set -u
if command -v kubectl >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-kubectl: kubectl missing and cannot apt-get install it (not root or no apt)" >&2
    exit 0
fi
echo "ensure-kubectl: installing kubectl for tests/deploy/test_k8s.py" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
for package in kubectl kubernetes-client; do
    if apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; then
        exit 0
    fi
done
echo "ensure-kubectl: apt-get install kubectl failed; tests/deploy/test_k8s.py will skip" >&2
exit 0
