"""The course in other languages: catalogues of translated markdown, and the generators that apply them.

Delivery, not core: byol_course never imports this package. `python -m translations.notebooks build`
(`make zh`) writes notebooks/zh/ from the English notebooks and translations/zh/notebooks/*.json.
"""
