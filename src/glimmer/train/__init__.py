"""The train stage: models, device choice, fit configuration and ``fit()``.

torch, transformers and peft are imported only inside this stage (and evaluate), never by
``import glimmer``.
"""
