# Production image: daphne serving HTTP + WebSockets on port 8000. The same image runs
# the worker (`python manage.py extraction_worker`), migrations and startup
# maintenance (docker-compose.yml shows all four). Configure it with environment
# variables (.env.example); DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS are required.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AUTOSKILL_STORE_DIR=/data/SkillBank DATABASE_URL=sqlite:////data/db.sqlite3 \
    DJANGO_STATIC_ROOT=/app/staticfiles

WORKDIR /app
# The pinned requirements first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

# Code and static files belong to root: the app cannot rewrite itself. Only /data is
# writable, and a named volume mounted there inherits that ownership.
COPY . .
RUN DJANGO_DEBUG=1 python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 10001 --user-group autoskill \
    && mkdir -p /data/SkillBank \
    && chown -R autoskill:autoskill /data
USER autoskill
VOLUME ["/data"]
EXPOSE 8000

# /health answers without the database; the check sends an allowed Host header.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]

# The JSON request log (logger autoskill.requests) replaces daphne's access log.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--access-log", "/dev/null", \
     "autoskill_site.asgi:application"]
