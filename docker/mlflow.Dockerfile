# The stock MLflow image ships MLflow alone: the PostgreSQL backend store needs psycopg2 and the
# s3:// artifact destination (MinIO) needs boto3. Versions follow requirements.txt.
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir psycopg2-binary==2.9.11 boto3==1.44.5
