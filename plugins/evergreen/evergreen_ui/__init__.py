"""The Evergreen page in the Airflow UI (imported by ../evergreen_plugin.py inside the api-server only).

app      the FastAPI app: routes, auth, the rollback action
data     reads through the evergreen package's read functions (registry, audit, drift reports, ledger, lake)
render   HTML, every stored value escaped
charts   the drift timeline and the data-health bars as inline SVG
runs     the "Evergreen" tab on a DAG run
actions  triggers rollback_model
"""
