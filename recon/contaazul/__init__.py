"""Conta Azul API: client, mapping and a stand-in server for demos and tests."""
