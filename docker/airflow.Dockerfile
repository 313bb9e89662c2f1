# Evergreen's Airflow image: every Airflow service of docker-compose.yaml runs it.
# The repo layout is kept under /opt/airflow (= AIRFLOW_HOME = EVERGREEN_REPO), so the committed
# airflow.cfg ($EVERGREEN_REPO/dags, ...) and evergreen.config.REPO_ROOT resolve the same way as locally.
FROM apache/airflow:3.3.2-python3.11

USER root
# Spark 4 needs Java 17+ (the distribution's default JRE); procps gives Spark's scripts `ps`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends default-jre-headless procps \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/default-java

USER airflow
# The verified lock as constraints, exactly like `make setup`; apache-airflow pinned so pip never moves it
# (requirements.txt carries psycopg2-binary: the package's PostgreSQL driver).
COPY --chown=airflow:0 requirements.txt requirements-lock.txt /opt/airflow/
RUN pip install --no-cache-dir \
      "apache-airflow==3.3.2" \
      -r /opt/airflow/requirements.txt -c /opt/airflow/requirements-lock.txt

# The package, editable: docker-compose.yaml mounts ./include over /opt/airflow/include read-only, and
# an editable install imports whatever is at that path. The evergreen DB's migrations ship inside it
# (evergreen/storage/migrations/); `evergreen db upgrade` applies them (compose: evergreen-db-init).
COPY --chown=airflow:0 pyproject.toml /opt/airflow/
COPY --chown=airflow:0 include/ /opt/airflow/include/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow

# Baked in as well, so the image also runs without the development mounts.
COPY --chown=airflow:0 airflow.cfg /opt/airflow/airflow.cfg
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 spark_jobs/ /opt/airflow/spark_jobs/
COPY --chown=airflow:0 docker/spark/ /opt/evergreen/spark-conf/
# EVERGREEN_HOME (reports, GX context, ivy cache): a named volume takes this directory's ownership.
RUN mkdir -p /opt/airflow/evergreen-home
