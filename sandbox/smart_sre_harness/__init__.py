"""The test harness: the demo, the scenario eval, the process runner and the pytest fixture.

It imports the product (`smart_sre`) and the sandbox (`smart_sre_sandbox`); neither imports it.
"""
