#!/bin/bash
# Runs once, on the first start of an empty PostgreSQL volume: creates the journeypulse store's
# role and database next to Airflow's metadata database (which POSTGRES_USER/POSTGRES_DB create).
set -euo pipefail
: "${JOURNEYPULSE_DB_PASSWORD:?set JOURNEYPULSE_DB_PASSWORD in docker/.env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v jp_password="$JOURNEYPULSE_DB_PASSWORD" <<'SQL'
CREATE ROLE journeypulse LOGIN PASSWORD :'jp_password';
CREATE DATABASE journeypulse OWNER journeypulse ENCODING 'UTF8';
SQL
