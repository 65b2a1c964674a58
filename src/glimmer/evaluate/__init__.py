"""Evaluation: trigger-prompt suites, base vs prompted vs tuned generation, shift metrics, report.

Importing this package is light; torch loads when a model is used
(:func:`glimmer.evaluate.compare.compare`, :mod:`glimmer.evaluate.generate`).
"""
