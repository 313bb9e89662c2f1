"""Pure Spark DataFrame -> DataFrame functions for each lake layer. No I/O decisions, no Airflow."""
