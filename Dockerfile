# Production image for the web server, the Celery worker and Celery beat
# (docker-compose.yml runs all three from it). Talks to real Amazon Bedrock.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_ENV=production \
    DATA_DIR=/app/data

WORKDIR /app

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first, from pyproject.toml alone, so that a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files are served by WhiteNoise from the image. The key is a dummy:
# collectstatic needs one in production mode, and it is never used at run time.
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/data && chown app:app /app/data

# The code stays owned by root: the app user can read it, not change it.
USER app

EXPOSE 8000
CMD ["gunicorn", "agent_platform.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
