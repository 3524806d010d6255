"""Outlet spiders: one module per outlet (its feeds and body extraction), plus a generic feed spider."""
