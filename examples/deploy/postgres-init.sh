#!/bin/sh
# Runs once, when the compose Postgres volume is first created (docker-entrypoint-initdb.d), as the
# superuser. It creates the login role the daemons use, with only what they need (docs/security.md):
#   - the state store: CREATE on its own schema, where the daemons create their autonomous_dev_* tables;
#   - the optional credential store: SELECT on `users`, and UPDATE of claude_auth for OAuth refreshes.
# With USER_EMAIL set, the daemons read GITHUB_TOKEN (and Claude OAuth tokens) from `users`
# (docs/credentials.md). Insert the row with psql, never in a file:
#   docker compose exec postgres psql -U postgres -d autonomous_dev \
#     -c "INSERT INTO users (id, email, github_access_token) VALUES ('bot', 'bot@example.com', '...')"
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$AUTONOMOUS_DEV_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE autonomous_dev LOGIN PASSWORD :'app_password';
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO autonomous_dev;

CREATE SCHEMA autonomous_dev_state;
GRANT USAGE, CREATE ON SCHEMA autonomous_dev_state TO autonomous_dev;
ALTER ROLE autonomous_dev SET search_path = autonomous_dev_state, public;

CREATE TABLE public.users (
  id text PRIMARY KEY,
  email text UNIQUE,
  github_access_token text,
  claude_auth json
);
GRANT USAGE ON SCHEMA public TO autonomous_dev;
GRANT SELECT ON public.users TO autonomous_dev;
GRANT UPDATE (claude_auth) ON public.users TO autonomous_dev;
SQL
