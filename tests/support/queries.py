"""The query the tests send when any ordinary one will do (the talk's own example)."""

QUERY = {"title": "Deploy de modelos de machine learning", "description": "API REST com Flask e scikit-learn"}
