"""Leaf types of Hummer's domain: plain data, no Flask, no database, no outside system.

Services, forms and adapters import from here; nothing here imports them.
"""
