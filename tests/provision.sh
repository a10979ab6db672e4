#!/usr/bin/env bash
# The system tools the full test suite runs for real: Prometheus and promtool, Alertmanager and
# amtool, headless Chromium (the chargeback statement's test). `make test` calls this first; a
# second run finds them and does nothing. As root it installs what is missing with apt-get;
# otherwise it prints one line naming what to install. (Pinned versions in a project cache are
# the stack issue's next step.)
set -euo pipefail

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "tests/provision.sh: the full suite needs: ${need[*]} (Debian: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
