"""Jinja2 HIT templates, one folder per task type; shipped as package data of the wheel."""
