"""Models-from-code entry point: MLflow runs this file when it loads a registered Evergreen model.
(MLflow 3's recommended alternative to pickling the PythonModel instance.)"""

from mlflow.models import set_model

from evergreen.registry.pyfunc_model import ScorerModel

set_model(ScorerModel())
