#!/usr/bin/env bash
# The exact tools the test suite runs, fetched once into a project cache (`make test` calls this
# first; a second run finds everything and does nothing):
#
#   - the sets pinned in tests/tools/pins.txt (Prometheus 3.5 LTS and 2.53, Alertmanager,
#     VictoriaMetrics): `apt-get download` from the suite that carries the pinned upstream
#     version, through a sources file and lists folder of our own (the machine's apt setup is
#     untouched; apt still checks the archive's signatures and hashes), then `dpkg-deb -x` into
#     .cache/tools/SET/. Where the machine's own package has the pinned version, a link to it.
#   - headless Chromium (the chargeback statement's test): apt-get install as root; otherwise one
#     line naming what to install.
#   - the FOCUS validators (tests/tools/focus-requirements.txt) in a Python 3.12 virtual
#     environment of their own, .cache/tools/focus/ (Python 3.12: UNITCOST_PYTHON312, else
#     python3.12 on PATH, else pyenv's); rebuilt when the requirements change.
#
# UNITCOST_TOOLS_CACHE moves the cache; tests/support/tools.py reads the same pins.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${UNITCOST_TOOLS_CACHE:-$root/.cache/tools}"
pins="$here/pins.txt"
me="tests/tools/provision.sh"

fail() { echo "$me: $*" >&2; exit 1; }

# --- Debian packages the tests run as they are: headless Chromium (the statement test);
# iproute2, iptables, conntrack (the network collector's real-conntrack tests, as root) ----------
system=()
command -v chromium >/dev/null || system+=(chromium fonts-dejavu-core)
for bin in ip iptables ip6tables conntrack; do
  command -v "$bin" >/dev/null || { system+=(iproute2 iptables conntrack); break; }
done
if [ ${#system[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    fail "the suite needs root and these Debian packages: ${system[*]} (sudo apt-get install ${system[*]})"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${system[@]}" >/dev/null
fi

# --- FOCUS validators: a Python 3.12 venv of their own -------------------------------------------
focus_reqs="$here/focus-requirements.txt"
focus_venv="$cache/focus"
if ! cmp -s "$focus_reqs" "$focus_venv/requirements.txt" 2>/dev/null; then
  py312=""
  for candidate in ${UNITCOST_PYTHON312:-} "$(command -v python3.12 || true)" \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python; do
    # (a pyenv shim is on PATH but may not run: each candidate must answer as 3.12)
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      py312="$candidate"; break
    fi
  done
  [ -n "$py312" ] \
    || fail "the FOCUS validators need Python 3.12: install it (pyenv install 3.12) or set UNITCOST_PYTHON312"
  echo "$me: FOCUS validators ($(grep -v '^#' "$focus_reqs" | tr '\n' ' ')) -> ${focus_venv#"$root"/}" >&2
  # Built in place (a venv's scripts name its path); the stamp, written last, marks it done.
  rm -rf "$focus_venv"
  "$py312" -m venv "$focus_venv"
  "$focus_venv/bin/python" -m pip install -q --disable-pip-version-check -r "$focus_reqs" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  "$focus_venv/bin/python" -c "import focus_validator, focus_data_toolkit" \
    || fail "pip install -r $focus_reqs into $focus_venv failed"
  cp "$focus_reqs" "$focus_venv/requirements.txt"
fi

# --- pinned sets ------------------------------------------------------------------------------
missing=()
while read -r set suite upstream packages binaries; do
  case "$set" in ''|'#'*) continue ;; esac
  for bin in ${binaries//,/ }; do
    [ -x "$cache/$set/$bin" ] || { missing+=("$set $suite $upstream $packages $binaries"); break; }
  done
done <"$pins"
[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
  || fail "fetching the pinned tools needs apt-get and dpkg-deb (a Debian-family machine); or set the UNITCOST_* paths of tests/support/tools.py"

# The machine's own Debian mirror (not its security one); deb.debian.org when none is set.
mirror="$(apt-get indextargets --format '$(ORIGIN) $(RELEASE) $(REPO_URI)' 2>/dev/null \
  | awk '$1 == "Debian" && $2 !~ /security/ { print $3; exit }')"
mirror="${mirror:-http://deb.debian.org/debian/}"

apt_dir="$cache/.apt"
mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
suites="$(printf '%s\n' "${missing[@]}" | awk '{ print $2 }' | sort -u | tr '\n' ' ')"
cat >"$apt_dir/sources/unitcost-tools.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(
  -o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt_dir/sources"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o Dir::Cache::archives="$apt_dir/archives"
  -o APT::Sandbox::User="$(id -un)" -o Debug::NoLocking=1
)
echo "$me: fetching $(printf '%s\n' "${missing[@]}" | awk '{ print $1 "(" $3 ")" }' | tr '\n' ' ')from $mirror ($suites)" >&2
apt-get -qq "${apt_opts[@]}" update || fail "apt-get update of $suites from $mirror failed"

for line in "${missing[@]}"; do
  read -r set suite upstream packages binaries <<<"$line"
  dest="$cache/$set"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  for pkg in ${packages//,/ }; do
    # The machine's own package, when it has the pinned upstream version.
    installed="$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || true)"
    if [[ "$installed" == "$upstream"[+-]* ]]; then
      for bin in ${binaries//,/ }; do
        [ -x "/usr/bin/$bin" ] && dpkg -S "/usr/bin/$bin" 2>/dev/null | grep -q "^$pkg:" \
          && ln -sf "/usr/bin/$bin" "$dest.tmp/$bin"
      done
      continue
    fi
    # The archive's revision of that upstream version in the pinned suite.
    version="$(apt-cache "${apt_opts[@]}" madison "$pkg" \
      | awk -F'|' -v s="$suite/" -v u="$upstream" '
          { gsub(/ /, "", $2); gsub(/ /, "", $3) }
          index($3, s) && (index($2, u "+") == 1 || index($2, u "-") == 1) { print $2; exit }')"
    [ -n "$version" ] || fail "Debian $suite has no $pkg $upstream any more (pinned in tests/tools/pins.txt); pin what it has: $(apt-cache "${apt_opts[@]}" madison "$pkg" | awk -F'|' '{ gsub(/ /, "", $2); printf "%s ", $2 }')"
    (cd "$apt_dir/debs" && apt-get -qq "${apt_opts[@]}" download "$pkg=$version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    deb="$(ls "$apt_dir/debs/${pkg}_${version/:/%3a}_"*.deb 2>/dev/null | head -1)"
    [ -n "$deb" ] || fail "apt-get download $pkg=$version from $mirror $suite failed"
    dpkg-deb -x "$deb" "$dest.tmp/root"
    rm -f "$deb"
  done
  for bin in ${binaries//,/ }; do
    if [ -x "$dest.tmp/root/usr/bin/$bin" ]; then
      mv "$dest.tmp/root/usr/bin/$bin" "$dest.tmp/$bin"
    fi
    [ -x "$dest.tmp/$bin" ] || fail "$set: no $bin in ${packages}"
  done
  rm -rf "$dest.tmp/root"
  "$dest.tmp/${binaries%%,*}" --version >/dev/null 2>&1 \
    || fail "$set: $dest.tmp/${binaries%%,*} --version fails on this machine"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "$me: $set $upstream -> ${dest#"$root"/}" >&2
done
