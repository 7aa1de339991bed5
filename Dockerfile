# Production image: daphne serving HTTP + WebSockets. Configure with environment variables
# (README "Configuration"); DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS are required.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    AUTOSKILL_STORE_DIR=/data/SkillBank DATABASE_URL=sqlite:////data/db.sqlite3

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN DJANGO_DEBUG=1 python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 autoskill \
    && mkdir -p /data && chown autoskill /data
USER autoskill
VOLUME ["/data"]
EXPOSE 8000

CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne -b 0.0.0.0 -p 8000 autoskill_site.asgi:application"]
