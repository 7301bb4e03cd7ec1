#!/usr/bin/env bash
# The Postman collection as a smoke test (CI runs this): start the demo bridge with the Postman environment's values
# on free ports and a fresh store, wait for /healthz, run newman with the collection and the environment (pointed at
# those ports), and always stop the bridge. `npm run test:postman`.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(free_port)
SANDBOX_PORT=$(free_port)
while [ "$SANDBOX_PORT" = "$PORT" ]; do SANDBOX_PORT=$(free_port); done
DIR=$(mktemp -d)
LOG="$DIR/bridge.log"

# Its own process group (setsid), so stopping it stops tsx, the demo and the bridge, whatever happens below.
PORT=$PORT SANDBOX_PORT=$SANDBOX_PORT DATABASE_URL="sqlite:$DIR/demo.sqlite" LOG_LEVEL=warn \
  setsid node_modules/.bin/tsx scripts/demo.ts >"$LOG" 2>&1 &
BRIDGE=$!
stop() {
  kill -TERM -- "-$BRIDGE" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 -- "-$BRIDGE" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$BRIDGE" 2>/dev/null || true
  rm -rf "$DIR"
}
trap stop EXIT

BASE="http://127.0.0.1:$PORT"
echo "postman smoke: demo bridge on $BASE, waiting for /healthz"
for i in $(seq 1 120); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$BRIDGE" 2>/dev/null || [ "$i" = 120 ]; then
    echo "the demo bridge did not become ready:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  sleep 0.5
done

# The sandboxes have their own loopback listener (SANDBOX_PORT); a bridge without one serves them under /sandbox.
SANDBOX="http://127.0.0.1:$SANDBOX_PORT/sandbox"
curl -fsS "$SANDBOX/app/_sandbox/webhooks" >/dev/null 2>&1 || SANDBOX="$BASE/sandbox"

node_modules/.bin/newman run docs/referral-bridge.postman_collection.json -e docs/referral-bridge.postman_environment.json \
  --env-var "baseUrl=$BASE" --env-var "sandboxUrl=$SANDBOX" --color off
