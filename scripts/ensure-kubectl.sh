#!/usr/bin/env bash
# kubectl (its embedded kustomize renders deploy/k8s in tests/deploy/test_k8s.py): the `kubectl` package where the
# machine's apt sources carry it, else Debian's `kubernetes-client`. Without a kubectl whose kustomize is v5 or
# newer (Debian bookworm's kubernetes-client has v2) those tests skip and say why.
exec bash "$(dirname "$0")/ensure-tool.sh" kubectl "tests/deploy/test_k8s.py" kubectl kubernetes-client
