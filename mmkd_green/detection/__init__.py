"""Detection KD (imports mmdet): `custom_imports = dict(imports=["mmkd_green", "mmkd_green.detection"])`."""
