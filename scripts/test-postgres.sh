#!/usr/bin/env bash
# The HTTP, store and live-feed tests again, on PostgreSQL (TEST_POSTGRES_URL, default the local `test` database).
# Outside CI a machine without PostgreSQL skips this run and says so; in CI it is a failure.
set -euo pipefail
url="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! node -e "const pg=require('pg');const c=new pg.Client({connectionString:process.argv[1]});c.connect().then(()=>c.end()).catch(()=>process.exit(1))" "$url"; then
  if [ "${CI:-}" = "true" ]; then echo "PostgreSQL is not reachable at $url" >&2; exit 1; fi
  echo "*** PostgreSQL is not reachable at $url: the PostgreSQL test run is SKIPPED ***" >&2
  exit 0
fi
TEST_DATABASE=postgres exec npx vitest run test/http test/store test/services test/twilio-compat test/dashboard/event-feed.test.ts test/dashboard/events.test.ts
