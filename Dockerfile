# The tipengine image: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LITELLM_LOCAL_MODEL_COST_MAP=True
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput
USER nobody
EXPOSE 8000
# gunicorn.conf.py: gthread workers that import litellm before serving (GUNICORN_WORKERS, GUNICORN_THREADS)
CMD ["gunicorn", "tipengine.wsgi"]
