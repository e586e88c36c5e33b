"""Helpers shared by weft's perf and comparison scripts (tools/perf-record,
tools/perf-stat, tools/compare, tools/plot). Python 3 standard library only,
except tools/plot, which needs matplotlib."""
