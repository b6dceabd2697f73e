"""A tiny Flask-SQLAlchemy app for test/integration/flask_migrate.sh.

The model grows in steps chosen by MODEL_STAGE (1: create users, 2: add a
nullable bio, 3: add a role, 4: index the role (the test writes that
migration by hand, with a concurrent build), 5: rename bio to about, which
autogenerate turns into add + drop), so the test can run "flask db
migrate" after each change exactly as a developer would.  PER_MIGRATION=1
configures Alembic's transaction_per_migration.
"""
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

STAGE = int(os.environ.get("MODEL_STAGE", "3"))

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
db = SQLAlchemy(app)
migrate = Migrate(app, db,
                  transaction_per_migration=os.environ.get("PER_MIGRATION") == "1")


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(64), nullable=False)
    if 2 <= STAGE < 5:
        bio = db.Column(db.Text, nullable=True)
    if STAGE >= 5:
        about = db.Column(db.Text, nullable=True)
    if STAGE >= 3:
        role = db.Column(db.String(16), nullable=True, index=STAGE >= 4)
