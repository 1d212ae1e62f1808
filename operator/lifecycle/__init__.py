"""The report lifecycle: policies, triggers, reports, the controller, approval and verification.

Runs investigations (`smart_sre.investigation`) and writes their results into DiagnosticReports.
"""
