#!/usr/bin/env bash
# Installs the peer gateways the full benchmark compares against, pinned, into bench/.peers/.
# LiteLLM: newer releases need a certifi the registry lacks (research/peers.md §5.1).
# Portkey: later @hono/node-server versions break its streaming (research/peers.md §5.2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
peers="$here/../.peers"
mkdir -p "$peers"

if [ ! -x "$peers/litellm/bin/litellm" ]; then
  echo "installing litellm[proxy]==1.102.4 into $peers/litellm"
  python3 -m venv "$peers/litellm"
  "$peers/litellm/bin/pip" install -q 'litellm[proxy]==1.102.4'
fi

if [ ! -f "$peers/portkey/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
  echo "installing @portkey-ai/gateway@1.15.2 into $peers/portkey"
  mkdir -p "$peers/portkey"
  cp "$here/portkey-package.json" "$peers/portkey/package.json"
  (cd "$peers/portkey" && npm install --no-audit --no-fund --loglevel=error)
fi
echo "peers ready in $peers"
