"""Needs and supply project libraries (需求项目库 / 供给项目库), matching and sharing."""
