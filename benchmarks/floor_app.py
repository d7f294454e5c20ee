"""The framework floor for ``http_bench.py``: flask_restful under the same
gunicorn settings, validating the same fields with the same schema, and
answering a constant of the same shape as ``POST /predict`` through the same
JSON encoder. No model, no request log: what's left is the cost of HTTP,
Flask, flask_restful and JSON.
"""

from flask import Flask
from flask_restful import Api, Resource

from api.errors import output_json
from api.requests import request_fields, validated
from api.schemas import PredictRequestSchema

_schema = PredictRequestSchema()
_talk = {
    "title": "Criando API REST com python flask e mongodb",
    "description": "Uma introdução a api rest, utilizando a linguagem python com framework flask e banco "
                   "de dados noSQL mongodb, apresentar os conceitos de api e as vantagens de um banco noSQL.",
    "trilha": "trilha-python", "ano": 2018, "cidade": "portoalegre",
    "trilha_url": "http://www.thedevelopersconference.com.br/tdc/2018/portoalegre/trilha-python",
}


class ConstantPredict(Resource):
    def post(self):
        query = validated(_schema, request_fields())
        return {
            "predictions": [{**_talk, "score": 0.5, "index": i} for i in range(query["n_results"])],
            "version": "floor",
        }


class Health(Resource):
    def get(self):
        return {"status": "ok"}


app = Flask(__name__)
api = Api(app)
api.representations["application/json"] = output_json
api.add_resource(ConstantPredict, "/predict")
api.add_resource(Health, "/health")
